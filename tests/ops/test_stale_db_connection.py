"""After PostgreSQL drops a persistent connection, the next request on it still answers 200."""

from __future__ import annotations

import psycopg
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test import RequestFactory
from django.urls import reverse


def _get(handler: WSGIHandler, path: str, cookie: str) -> int:
    """A request through the real WSGI handler: unlike the test client, it runs Django's
    request_started/finished connection housekeeping (close_old_connections)."""
    environ = RequestFactory()._base_environ(PATH_INFO=path, REQUEST_METHOD="GET", HTTP_COOKIE=cookie)
    statuses = []
    response = handler(environ, lambda status, headers, exc_info=None: statuses.append(status))
    b"".join(response)
    response.close()  # request_finished
    return int(statuses[0].split()[0])


@pytest.mark.postgres
def test_a_request_after_postgresql_terminated_the_persistent_connection_answers_200(
    transactional_db, client, alice, acme_project
):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (run with DATABASE_URL=postgres://...)")
    assert connection.settings_dict["CONN_MAX_AGE"] > 0  # connections are kept between requests
    client.force_login(alice)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    handler = WSGIHandler()
    path = reverse("generations:project-list")

    assert _get(handler, path, cookie) == 200
    pid = connection.connection.info.backend_pid  # the connection the next request will reuse
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])

    assert _get(handler, path, cookie) == 200
    assert connection.connection.info.backend_pid != pid
