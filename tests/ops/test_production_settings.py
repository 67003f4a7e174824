"""Production defaults that cannot bite: no committed SECRET_KEY outside DEBUG (wanweb.E001), https
hardening from PUBLIC_BASE_URL, `check --deploy` clean, Permissions-Policy, ADMIN_URL, and static
files for `make run` without DEBUG. Settings are read at import, so most of these run a fresh
process with the environment under test."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.test import override_settings
from django.urls import clear_url_caches, reverse

ROOT = Path(__file__).resolve().parents[2]
REAL_KEY = "p" + "r0duct10n-k3y-" * 5  # 71 characters, many distinct: passes security.W009
FIELD_KEY = "Yn_G-iTgBdFVgd5zAQneyf_FK-8TYm1u_8Jvj2BRnGA="  # the tests' throwaway Fernet key

PRODUCTION = {
    "DEBUG": "false",
    "PUBLIC_BASE_URL": "https://studio.example.com",
    "ALLOWED_HOSTS": "studio.example.com",
    "SECRET_KEY": REAL_KEY,
    "TRUSTED_PROXY_COUNT": "1",
}


def _env(**overrides: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "WANWEB_DEV", "SECURE_", "SECRET_KEY", "SESSION_", "ADMIN_URL"))
        and k not in ("DEBUG", "PUBLIC_BASE_URL", "ALLOWED_HOSTS", "TRUSTED_PROXY_COUNT")
    }
    env["DJANGO_SETTINGS_MODULE"] = "wanweb.settings"
    env["WANWEB_SECRET_KEY_PATH"] = "/nonexistent/wanweb-secret-key"  # ignore this checkout's var/
    # Teams' vendor keys need FIELD_ENCRYPTION_KEYS outside DEBUG (accounts.E001, tests/accounts/).
    env["WANWEB_FIELD_ENCRYPTION_KEY_PATH"] = "/nonexistent/wanweb-field-key"
    env.setdefault("FIELD_ENCRYPTION_KEYS", FIELD_KEY)
    env.update(overrides)
    return env


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=_env(**env), capture_output=True, text=True
    )


def _settings(*names: str, **env: str) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {list(names)!r}}}, default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_env(**env), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_check_deploy_is_clean_under_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_debug_and_without_a_key_the_check_refuses_with_e001():
    result = _manage("check", DEBUG="false")
    assert result.returncode != 0
    assert "wanweb.E001" in result.stderr and "SECRET_KEY is not set" in result.stderr
    # The committed development key is refused as well, when someone pastes it in.
    pasted = _manage("check", DEBUG="false", SECRET_KEY="django-insecure-wanweb-development-key-change-me")
    assert "wanweb.E001" in pasted.stderr


def test_debug_keeps_the_zero_setup_development_key():
    assert _manage("check", DEBUG="true").returncode == 0


def test_the_generated_key_file_is_used_when_secret_key_is_unset(tmp_path):
    key_file = tmp_path / "secret_key"
    key_file.write_text("generated-" + "x9" * 30 + "\n")
    values = _settings("SECRET_KEY", DEBUG="false", WANWEB_SECRET_KEY_PATH=str(key_file))
    assert values["SECRET_KEY"] == "generated-" + "x9" * 30
    assert _manage("check", DEBUG="false", WANWEB_SECRET_KEY_PATH=str(key_file)).returncode == 0


def test_the_e001_check_function_itself():
    from wanweb.checks import secret_key_is_set

    with override_settings(DEBUG=False, SECRET_KEY="x" * 60):
        assert secret_key_is_set() == []
    with override_settings(DEBUG=False, SECRET_KEY=""):
        assert [e.id for e in secret_key_is_set()] == ["wanweb.E001"]
    with override_settings(DEBUG=True, SECRET_KEY=""):
        assert secret_key_is_set() == []


def test_https_public_base_url_turns_on_hsts_secure_cookies_and_proxy_header():
    values = _settings(
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_PROXY_SSL_HEADER",
        "CSRF_TRUSTED_ORIGINS",
        "ALLOWED_HOSTS",
        **{**PRODUCTION, "PUBLIC_BASE_URL": "https://studio.example.com/wan/", "ALLOWED_HOSTS": "localhost"},
    )
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert (
        values["SECURE_SSL_REDIRECT"]
        is values["SESSION_COOKIE_SECURE"]
        is values["CSRF_COOKIE_SECURE"]
        is True
    )
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["CSRF_TRUSTED_ORIGINS"] == ["https://studio.example.com"]  # the origin, not the path
    assert values["ALLOWED_HOSTS"] == ["localhost", "studio.example.com"]


def test_plain_http_or_debug_leaves_hsts_and_the_redirect_off():
    for env in ({"DEBUG": "false", "SECRET_KEY": REAL_KEY}, {**PRODUCTION, "DEBUG": "true"}):
        values = _settings("SECURE_HSTS_SECONDS", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", **env)
        assert values == {
            "SECURE_HSTS_SECONDS": 0,
            "SECURE_SSL_REDIRECT": False,
            "SESSION_COOKIE_SECURE": False,
        }
    assert _settings("SECURE_PROXY_SSL_HEADER", DEBUG="true")["SECURE_PROXY_SSL_HEADER"] is None


def test_every_response_carries_a_permissions_policy(client):
    response = client.get(reverse("login"))
    policy = response.headers["Permissions-Policy"]
    assert "camera=()" in policy and "microphone=()" in policy and "geolocation=()" in policy
    assert "clipboard-write=(self)" in policy  # "Copy seed" keeps working


@pytest.mark.django_db
def test_admin_lives_at_admin_url(client):
    import wanweb.urls

    try:
        with override_settings(ADMIN_URL="ops-4f7a/"):
            importlib.reload(wanweb.urls)
            clear_url_caches()
            assert reverse("admin:index") == "/ops-4f7a/"
            assert client.get("/ops-4f7a/login/").status_code == 200
            assert client.get("/admin/login/").status_code == 404
    finally:
        importlib.reload(wanweb.urls)
        clear_url_caches()
    assert reverse("admin:index") == "/admin/"


def test_make_run_without_debug_serves_static_files_from_the_source_tree(tmp_path):
    """`make run` sets WANWEB_DEV_STATIC: no collectstatic, yet pages and their CSS load with DEBUG off."""
    code = (
        "import django; django.setup(); from django.test import Client; "
        "c = Client(HTTP_HOST='localhost'); page = c.get('/login/'); css = c.get('/static/css/app.css'); "
        "print(page.status_code, css.status_code, b'/static/css/app.css' in page.content)"
    )
    env = _env(
        DEBUG="false",
        SECRET_KEY=REAL_KEY,
        WANWEB_DEV_STATIC="true",
        STATIC_ROOT=str(tmp_path / "empty"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.stdout.split() == ["200", "200", "True"], result.stderr[-3000:]


def test_system_checks_pass_under_the_test_settings():
    assert [m for m in run_checks() if m.is_serious()] == []
