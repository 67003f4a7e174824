"""The operator files agree with the app: every queue the app routes tasks to has a worker in the
Procfile and compose.yaml, migrations run before the processes, one beat; gunicorn.conf.py takes
its worker count from WEB_CONCURRENCY or the CPUs."""

from __future__ import annotations

import multiprocessing
import re
import runpy
from pathlib import Path

import pytest

import wanweb.settings as production  # the real settings module (the tests' queues are renamed)

ROOT = Path(__file__).resolve().parents[2]


def _queues() -> set[str]:
    routed = {route["queue"] for route in production.CELERY_TASK_ROUTES.values()}
    return {production.CELERY_TASK_DEFAULT_QUEUE, *routed}


def test_the_procfile_runs_migrate_first_a_worker_per_queue_and_one_beat():
    lines = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line and line[0] != "#"
    )
    assert "manage.py migrate" in lines["release"]
    assert "gunicorn --config gunicorn.conf.py wanweb.wsgi:application" in lines["web"]
    served = {
        q for cmd in lines.values() if " worker " in cmd for q in re.search(r"-Q (\S+)", cmd)[1].split(",")
    }
    assert served == _queues() == {"default", "polls", "downloads"}
    assert sum(" beat" in cmd for cmd in lines.values()) == 1


def test_compose_has_a_worker_per_queue_postgres_redis_and_optional_s3():
    compose = (ROOT / "compose.yaml").read_text()
    served = set(re.findall(r'"worker", "-Q", "([^"]+)"', compose))
    assert served == _queues()
    for service in ("migrate", "web", "worker", "polls", "downloads", "beat", "redis", "postgres", "minio"):
        assert re.search(rf"^  {service}:$", compose, re.M), service
    assert 'profiles: ["s3"]' in compose
    assert "migrate: { condition: service_completed_successfully }" in compose
    assert "build: ." in compose and (ROOT / "Dockerfile").exists()


@pytest.mark.parametrize(
    "env, workers, bind",
    [
        ({"WEB_CONCURRENCY": "3"}, 3, "127.0.0.1:8000"),
        ({}, min(2 * multiprocessing.cpu_count() + 1, 12), "127.0.0.1:8000"),
        ({"PORT": "5000"}, None, "0.0.0.0:5000"),
        ({"WANWEB_HOST": "10.0.0.7", "WANWEB_PORT": "9000"}, None, "10.0.0.7:9000"),
    ],
)
def test_gunicorn_conf(monkeypatch, env, workers, bind):
    for name in ("WEB_CONCURRENCY", "PORT", "WANWEB_HOST", "WANWEB_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert conf["bind"] == bind
    if workers is not None:
        assert conf["workers"] == workers
    assert conf["accesslog"] == "-" and conf["timeout"] > 0 and conf["graceful_timeout"] > 0


def test_each_gunicorn_worker_imports_the_urlconf_before_its_first_request():
    # Left to the first request, the import made a cold worker's first webhook take ~0.75 s.
    from django.urls import clear_url_caches, get_resolver

    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    clear_url_caches()  # a new resolver that has imported nothing yet, as in a new worker
    assert "url_patterns" not in get_resolver().__dict__
    conf["post_worker_init"](worker=None)
    assert "url_patterns" in get_resolver().__dict__  # the cached property was filled by the hook
