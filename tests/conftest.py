"""Shared people: alice owns team Acme, bob is a member of Acme, dave a viewer of Acme, charlie is an outsider
who owns his own team (Umbrella)."""

from __future__ import annotations

import pytest

from tests.factories import MembershipFactory, ProjectFactory, TeamFactory, UserFactory
from wanweb.accounts.models import Role

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def acme(db):
    return TeamFactory(name="Acme", slug="acme")


@pytest.fixture
def umbrella(db):
    return TeamFactory(name="Umbrella", slug="umbrella")


@pytest.fixture
def alice(acme):
    user = UserFactory(username="alice")
    MembershipFactory(team=acme, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def bob(acme):
    user = UserFactory(username="bob")
    MembershipFactory(team=acme, user=user, role=Role.MEMBER)
    return user


@pytest.fixture
def dave(acme):
    user = UserFactory(username="dave")
    MembershipFactory(team=acme, user=user, role=Role.VIEWER)
    return user


@pytest.fixture
def charlie(umbrella):
    user = UserFactory(username="charlie")
    MembershipFactory(team=umbrella, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def acme_project(acme, alice):
    return ProjectFactory(team=acme, name="Spring campaign", slug="spring-campaign", created_by=alice)


@pytest.fixture
def umbrella_project(umbrella, charlie):
    return ProjectFactory(team=umbrella, name="Secret plans", slug="secret-plans", created_by=charlie)


@pytest.fixture
def fake_fal_server(monkeypatch):
    """The fake fal on loopback (tests/fakes/fal.py), the app pointed at it by its environment
    (key, base URLs, JWKS), with fal's JWKS cache empty before and after."""
    from providers import fal
    from tests.fakes.fal import FakeFal

    fal.clear_jwks_cache()
    with FakeFal() as server:
        for name, value in server.environ.items():
            monkeypatch.setenv(name, value)
        yield server
    fal.clear_jwks_cache()


@pytest.fixture
def celery_worker_live(settings):
    """A real Celery worker (threads) on the real Redis of REDIS_URL, consuming this run's queues.

    It serves the polls queue, so it also runs the poll dispatcher (generations/dispatch.py).

    Use with `@pytest.mark.django_db(transaction=True)`: on_commit must fire and the worker's
    threads must see committed rows.
    """
    from celery.contrib.testing.worker import start_worker

    from wanweb.celery import app

    queues = list(settings.WORKER_QUEUES)  # polls, downloads, default: every queue the app sends to
    app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE
    app.conf.task_routes = settings.CELERY_TASK_ROUTES
    with start_worker(
        app,
        pool="threads",
        concurrency=4,
        perform_ping_check=False,
        loglevel="WARNING",
        queues=queues,
        shutdown_timeout=30,
    ) as worker:
        yield worker


def wait_for(predicate, *, timeout: float = 30.0, interval: float = 0.1):
    """Poll `predicate` until it returns something truthy; fail the test after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
