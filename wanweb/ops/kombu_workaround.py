"""Keep the worker alive when Redis restarts (celery 5.7 / kombu 5.7 bug, seen 2 of 2 restarts).

Cause: on a lost broker connection celery's consumer (`on_connection_error_after_connected`) first
calls `connection.collect()`, which detaches the transport (`transport.client = None`), then
`connection.close()`. That second close closes the consumer's redis channel again (the first close
gave up on the dead socket before marking it closed); closing restores unacknowledged messages
(our tasks ack late, so there always are some), which needs a Redis client, which
`Channel._connparams` builds from `self.connection.client`: None, so
`AttributeError: 'NoneType' object has no attribute 'hostname'`. That is not a connection error,
`ignore_errors` lets it through, and the worker exits with "Unrecoverable error".

Workaround: a redis channel remembers the connection settings it was opened with and uses them
when its transport has been detached. The restore then fails as a connection error while Redis is
down (ignored, the messages stay in Redis' unacked set and come back after the visibility timeout),
and the acks of tasks that finish after Redis is back go through on the old channel instead of
crashing. Remove when `wanweb.ops.kombu_workaround` is no longer needed: the test
tests/ops/test_redis_restart.py shows it.
"""

from __future__ import annotations

import functools

import redis
from kombu.transport import redis as kombu_redis

_MARK = "_wanweb_detached_client_fix"


def install() -> None:
    channel = kombu_redis.Channel
    original = channel._connparams
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    def _connparams(self, asynchronous=False):
        transport = self.connection
        client = transport.client
        if client is not None:
            self.__dict__["_wanweb_client"] = client
            return original(self, asynchronous=asynchronous)
        remembered = self.__dict__.get("_wanweb_client")
        if remembered is None:
            raise redis.exceptions.ConnectionError("the broker connection was closed")
        transport.client = remembered  # only for the duration of this call
        try:
            return original(self, asynchronous=asynchronous)
        finally:
            transport.client = None

    setattr(_connparams, _MARK, True)
    channel._connparams = _connparams
