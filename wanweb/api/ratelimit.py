"""A per-token request cap in Redis: a fixed one-minute window, INCR + EXPIRE.

Redis down: requests pass (logged); the quota's own limits still hold at job creation.
"""

from __future__ import annotations

import functools
import logging
import time

import redis
from django.conf import settings

logger = logging.getLogger(__name__)
WINDOW = 60


class RateLimited(Exception):
    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


@functools.cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def check(token_key: str) -> None:
    """Count one request of this token; raises RateLimited past API_RATE_LIMIT_PER_MINUTE."""
    limit = settings.API_RATE_LIMIT_PER_MINUTE
    if not limit:
        return
    now = int(time.time())
    window = now // WINDOW
    key = f"{settings.API_RATE_LIMIT_PREFIX}:{token_key}:{window}"
    try:
        pipe = _client(settings.REDIS_URL).pipeline()
        pipe.incr(key)
        pipe.expire(key, WINDOW + 5)
        count, _ = pipe.execute()
    except redis.RedisError as exc:
        logger.warning("API rate limit not checked (Redis: %s)", type(exc).__name__)
        return
    if count > limit:
        retry_after = max(1, (window + 1) * WINDOW - now)
        raise RateLimited(
            f"More than {limit} requests a minute with this token. Try again in {retry_after} s.",
            retry_after=retry_after,
        )
