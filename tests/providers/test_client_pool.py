"""Kept-alive vendor clients per process (providers.http.pooled_client), issue 13."""

from __future__ import annotations

import os

import httpx
import pytest

from providers import http, registry
from providers.http import CallRecord, pooled_client, recording
from wanweb import celery as celery_module

BASE = "https://api.lumenfall.ai"


@pytest.fixture(autouse=True)
def _fresh_pool():
    http.close_pool()
    yield
    http.close_pool()


def _lumenfall(key: str = "lmnfl_a"):
    return registry.get_client("lumenfall", api_key=key, base_url=BASE, environ={})


def test_calls_reuse_one_client_per_vendor_url_and_key(respx_mock, monkeypatch):
    built = []
    real = http.build_client
    monkeypatch.setattr(http, "build_client", lambda **kw: built.append(kw) or real(**kw))
    route = respx_mock.get(f"{BASE}/openai/v1/videos/video_1").mock(
        return_value=httpx.Response(200, json={"id": "video_1", "status": "queued"})
    )
    from providers.base import Submission

    submission = Submission(provider="lumenfall", vendor_job_id="video_1", state={"kind": "video"})
    with recording() as calls:
        for _ in range(3):
            _lumenfall().poll(submission)  # a new vendor client object each time, as each task makes
    assert route.call_count == 3
    assert len(built) == 1 and http.pool_size() == 1
    assert [c.status for c in calls] == [200, 200, 200]  # the call log still records every call
    assert all(isinstance(c, CallRecord) for c in calls)


def test_another_key_never_shares_a_client_and_the_key_is_not_in_the_pool():
    a = pooled_client("lumenfall", BASE, "lmnfl_team_a")
    b = pooled_client("lumenfall", BASE, "lmnfl_team_b")
    other_url = pooled_client("lumenfall", "https://eu.lumenfall.ai", "lmnfl_team_a")
    assert a is pooled_client("lumenfall", BASE, "lmnfl_team_a")
    assert len({id(a), id(b), id(other_url)}) == 3
    assert "lmnfl_team" not in repr(http._pool)
    assert "Authorization" not in a.headers  # sent per request, never kept on the client


def test_a_forked_child_builds_its_own_client():
    parent = pooled_client("fal", "https://queue.fal.run", "k")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it got the parent's client, then leave at once
        try:
            child = pooled_client("fal", "https://queue.fal.run", "k")
            os.write(write, b"same" if child is parent else b"new")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 16)
    os.waitpid(pid, 0)
    assert answer == b"new"
    assert pooled_client("fal", "https://queue.fal.run", "k") is parent  # the parent keeps its own


def test_a_pid_change_without_the_fork_hook_also_drops_the_pool(monkeypatch):
    before = pooled_client("dashscope", "https://dashscope-intl.aliyuncs.com", "sk")
    monkeypatch.setattr(http, "_pool_pid", -1)
    after = pooled_client("dashscope", "https://dashscope-intl.aliyuncs.com", "sk")
    assert after is not before
    assert not before.is_closed  # dropped, not closed: its sockets belong to the parent


def test_worker_process_shutdown_closes_every_kept_client():
    clients = [pooled_client("aimlapi", "https://api.aimlapi.com", key) for key in ("k1", "k2")]
    celery_module.worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
    assert all(c.is_closed for c in clients)
    assert http.pool_size() == 0
    assert not pooled_client("aimlapi", "https://api.aimlapi.com", "k1").is_closed  # lazily made again
