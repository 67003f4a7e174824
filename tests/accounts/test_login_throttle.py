"""Done-means (issue 10): login and invite links are throttled (django-axes, the real settings):
50 wrong passwords then the right one does not log in; after the cool-off, or an admin's unlock,
it does. The message says when to try again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.utils import timezone

from tests.conftest import PASSWORD
from wanweb.accounts import services
from wanweb.accounts.models import Membership, Role

pytestmark = pytest.mark.django_db


def _log_in(client, username: str, password: str, **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


def _logged_in_as(client) -> str | None:
    response = client.get("/projects/")
    return response.wsgi_request.user.username if response.status_code == 200 else None


def _age_attempts(minutes: int) -> None:
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=minutes))


def test_fifty_wrong_passwords_then_the_right_one_does_not_log_in(client, settings, alice):
    assert settings.AXES_ENABLED and settings.AXES_FAILURE_LIMIT == 5
    for _ in range(50):
        response = _log_in(client, "alice", "not the password")
    assert response.status_code == 429

    response = _log_in(client, "alice", PASSWORD)
    assert response.status_code == 429
    assert "Too many failed attempts: try again in 15 minutes." in response.content.decode()
    assert 'id="lockout-message"' in response.content.decode()  # the styled login page, not a bare 403
    assert _logged_in_as(client) is None

    # After the cool-off the right password works again, and the failures are forgotten.
    _age_attempts(16)
    response = _log_in(client, "alice", PASSWORD)
    assert response.status_code == 302
    assert _logged_in_as(client) == "alice"
    assert AccessAttempt.objects.count() == 0


def test_the_message_counts_down_and_refused_tries_do_not_restart_the_cool_off(client, alice):
    for _ in range(5):
        _log_in(client, "alice", "nope")
    _age_attempts(10)
    response = _log_in(client, "alice", PASSWORD)
    assert "try again in 5 minutes." in response.content.decode()
    _age_attempts(14)
    assert "try again in 1 minute." in _log_in(client, "alice", "still wrong").content.decode()


def test_four_failures_do_not_lock_and_a_success_resets_the_count(client, alice):
    for _ in range(4):
        assert _log_in(client, "alice", "nope").status_code == 200
    assert _log_in(client, "alice", PASSWORD).status_code == 302
    client.post("/logout/")
    for _ in range(4):
        assert _log_in(client, "alice", "nope").status_code == 200
    assert _log_in(client, "alice", PASSWORD).status_code == 302


def test_the_lock_is_per_user_and_address(client, alice, bob):
    for _ in range(5):
        _log_in(client, "alice", "nope")
    assert _log_in(client, "alice", PASSWORD).status_code == 429
    # An attacker hammering alice from one address does not lock bob, nor alice elsewhere.
    assert _log_in(client, "bob", PASSWORD).status_code == 302
    client.post("/logout/")
    assert _log_in(client, "alice", PASSWORD, REMOTE_ADDR="10.1.2.3").status_code == 302


def test_an_operator_unlocks_in_django_admin(client, alice):
    for _ in range(50):
        _log_in(client, "alice", "nope")
    assert _log_in(client, "alice", PASSWORD).status_code == 429

    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    operator = client.__class__()
    operator.force_login(get_user_model().objects.get(username="root"))
    listing = operator.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "alice" in listing.content.decode()
    attempt = AccessAttempt.objects.get(username="alice")
    response = operator.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()

    assert _log_in(client, "alice", PASSWORD).status_code == 302
    assert _logged_in_as(client) == "alice"


def test_the_admin_login_is_throttled_too(client, alice):
    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    for _ in range(5):
        client.post("/admin/login/", {"username": "root", "password": "nope"})
    response = client.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed attempts: try again in 15 minutes." in response.content.decode()
    assert not client.get("/admin/").wsgi_request.user.is_authenticated


# -- invite links ---------------------------------------------------------------------------


def _invite(acme, alice) -> str:
    actor = Membership.objects.get(team=acme, user=alice)
    _, token = services.invite_create(actor=actor, role=Role.MEMBER)
    return token


def test_guessing_invite_tokens_is_throttled_and_locks_even_a_real_link(client, acme, alice):
    token = _invite(acme, alice)
    for n in range(5):
        response = client.get(f"/invite/guess-{n}/")
    assert response.status_code == 429
    response = client.get(f"/invite/{token}/")
    assert response.status_code == 429
    assert "Too many failed attempts: try again in 15 minutes." in response.content.decode()
    signup = {"username": "newbie", "password1": "a long passphrase 42", "password2": "a long passphrase 42"}
    assert client.post(f"/invite/{token}/", signup).status_code == 429
    assert not get_user_model().objects.filter(username="newbie").exists()

    # Other addresses are not affected; after the cool-off the link works here too.
    assert client.get(f"/invite/{token}/", REMOTE_ADDR="10.9.9.9").status_code == 200
    _age_attempts(16)
    assert client.post(f"/invite/{token}/", signup).status_code == 302
    assert get_user_model().objects.filter(username="newbie").exists()


def test_a_used_invite_is_not_counted_as_a_guess(client, acme, alice, bob):
    token = _invite(acme, alice)
    client.force_login(bob)
    assert client.post(f"/invite/{token}/").status_code == 302  # bob joins (already a member)
    for _ in range(8):
        assert client.get(f"/invite/{token}/").status_code == 404
    assert not AccessAttempt.objects.exists()
