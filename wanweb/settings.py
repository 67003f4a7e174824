"""wanweb settings, read from the environment (names fixed in shared/DESIGN.md)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def env_secret(name: str, default: str = "") -> str:
    """A secret from NAME, or from the file NAME_FILE points at (Docker/systemd secrets)."""
    if os.environ.get(f"{name}_FILE"):
        return Path(os.environ[f"{name}_FILE"]).read_text().strip()
    return os.environ.get(name, default)


DEBUG = env_bool("DEBUG", False)

# --- SECRET_KEY (ops-serve) -------------------------------------------------------------------
# From SECRET_KEY / SECRET_KEY_FILE; else the random key `make run` / `make serve` generate once
# into var/secret_key (git-ignored; scripts/services.py); else, only under DEBUG, a development
# key. Outside DEBUG with none of these it stays empty and the check wanweb.E001 refuses to start
# (wanweb/checks.py): no key committed to the repository ever signs a production session.
DEVELOPMENT_SECRET_KEY = "django-insecure-wanweb-development-key-change-me"  # noqa: S105
GENERATED_SECRET_KEY_PATH = Path(env("WANWEB_SECRET_KEY_PATH") or BASE_DIR / "var" / "secret_key")
SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY and GENERATED_SECRET_KEY_PATH.is_file():
    SECRET_KEY = GENERATED_SECRET_KEY_PATH.read_text().strip()
if not SECRET_KEY and DEBUG:
    SECRET_KEY = DEVELOPMENT_SECRET_KEY
# --- end SECRET_KEY ---------------------------------------------------------------------------


def _local_field_encryption_key(path: Path) -> str:
    """The demo's key for encrypting teams' vendor keys: made once into a git-ignored file.

    `make run` makes it (scripts/services.py), and settings under DEBUG; production sets
    FIELD_ENCRYPTION_KEYS (check accounts.E001).
    O_EXCL: the web process and the worker may start together, and only one may write it.
    """
    from cryptography.fernet import Fernet

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # the other process may be between create and write
            key = path.read_text().strip()
            if key:
                return key
            import time

            time.sleep(0.02)
        raise ImproperlyConfigured(f"{path} is empty: delete it to make a new key") from None
    key = Fernet.generate_key().decode()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


# --- FIELD_ENCRYPTION_KEYS (teamkeys) ---------------------------------------------------------
# Fernet keys that encrypt secrets stored in the database (teams' vendor keys), newest first;
# rotation: README "Rotating the encryption keys". From FIELD_ENCRYPTION_KEYS / _FILE; else the key
# `make run` generates once into var/field_encryption_key (git-ignored; scripts/services.py); else,
# only under DEBUG, that file is made here. With none of these and DEBUG off the list stays empty
# and the check accounts.E001 refuses to start (wanweb/accounts/checks.py).
FIELD_ENCRYPTION_KEYS = [k.strip() for k in env_secret("FIELD_ENCRYPTION_KEYS").split(",") if k.strip()]
FIELD_ENCRYPTION_KEY_FILE = Path(
    env("WANWEB_FIELD_ENCRYPTION_KEY_PATH") or BASE_DIR / "var" / "field_encryption_key"
)
if not FIELD_ENCRYPTION_KEYS and FIELD_ENCRYPTION_KEY_FILE.is_file():
    FIELD_ENCRYPTION_KEYS = [k for k in [FIELD_ENCRYPTION_KEY_FILE.read_text().strip()] if k]
if not FIELD_ENCRYPTION_KEYS and DEBUG:
    FIELD_ENCRYPTION_KEYS = [_local_field_encryption_key(FIELD_ENCRYPTION_KEY_FILE)]
# --- end FIELD_ENCRYPTION_KEYS ----------------------------------------------------------------

ALLOWED_HOSTS = [h.strip() for h in env("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()]
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "csp",
    "template_partials",  # wraps the template loaders so "template.html#partial" names resolve
    "axes",
    "wanweb.accounts",
    "wanweb.quotas",  # after accounts: its admin extends the team and membership pages
    "generations",
    "wanweb.ops",  # health probes, worker heartbeats, Admin > System
    "wanweb.api",
    "ninja",  # only for its bundled Swagger UI files (served from static/, no CDN)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "wanweb.security.PermissionsPolicyMiddleware",
    "wanweb.accounts.middleware.CurrentTeamMiddleware",
    "wanweb.errors.FriendlyErrorPagesMiddleware",
    # Last: turns a login refused by the axes backend into our lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "wanweb.urls"
CSRF_FAILURE_VIEW = "wanweb.errors.csrf_failure"
WSGI_APPLICATION = "wanweb.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "wanweb.accounts.context_processors.teams",
                "wanweb.quotas.context_processors.budget_banner_context",
            ],
            # Partials as builtins: moving to Django 6's own partials means deleting a package.
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        # Persistent connections are checked before a request reuses them (ops-faults): after
        # PostgreSQL restarts or drops connections, the next request reconnects instead of a 500.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Celery workers and the web server write to the same file: wait for locks instead of failing.
    # IMMEDIATE takes the write lock at BEGIN (no deadlock-prone lock upgrades) and WAL lets
    # readers carry on while one writer works.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login and invite throttling (django-axes, wanweb/accounts/throttle.py): after
# LOGIN_FAILURE_LIMIT failures from one address for one username (or unknown invite tokens from
# one address) that pair is refused for LOGIN_COOLOFF_MINUTES, even with the right password.
# Operators unlock in admin (Axes > Access attempts: delete the rows).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out clients before any check
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
# Per (username, address): one attacker cannot lock a user out everywhere, and cannot try many
# passwords for one user. Behind a reverse proxy set TRUSTED_PROXY_COUNT so the client's address
# comes from X-Forwarded-For (otherwise every client is the proxy's address).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_IPWARE_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0) or None
if AXES_IPWARE_PROXY_COUNT:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
AXES_RESET_ON_SUCCESS = True
# A refused try during the lockout does not restart it: the "try again in N minutes" stays true.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "wanweb.accounts.throttle.lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # only failures are kept (Access attempts), not every login
AXES_VERBOSE = False  # no "AXES: BEGIN" banner on every manage.py command

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- static files (ops-serve) ------------------------------------------------------------------
# Production (`make serve`, Docker): collectstatic into STATIC_ROOT, hashed and compressed names,
# served by whitenoise with far-future caching. `make run` sets WANWEB_DEV_STATIC: whitenoise
# serves static/ straight from the source folders and notices edits, with DEBUG on or off.
WANWEB_DEV_STATIC = env_bool("WANWEB_DEV_STATIC", False)
if WANWEB_DEV_STATIC:
    WHITENOISE_USE_FINDERS = True
    WHITENOISE_AUTOREFRESH = True
STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    # Outputs have deterministic names: a re-run store task overwrites instead of renaming.
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"allow_overwrite": True},
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not (DEBUG or WANWEB_DEV_STATIC)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / "media")))
# Object storage instead of MEDIA_ROOT (pip install "wanweb[s3]"): the bucket stays private and
# files are handed out as signed URLs that expire in five minutes, after an access check.
S3_BUCKET = env("S3_BUCKET")
if S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env("S3_ENDPOINT_URL") or None,
            "region_name": env("S3_REGION") or None,
            "querystring_auth": True,
            "querystring_expire": 300,
            "file_overwrite": True,  # outputs have deterministic names (a re-run store overwrites)
            "default_acl": None,
        },
    }
MEDIA_URL = "/media/"  # served only through access-checking views, never directly

REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 180
# Several deployments (or bench/test runs) sharing one Redis: CELERY_QUEUE_PREFIX goes in front of
# the queue names (unset: `default` and `downloads`); see the broker key prefix at the end.
QUEUE_PREFIX = env("CELERY_QUEUE_PREFIX")
CELERY_TASK_DEFAULT_QUEUE = f"{QUEUE_PREFIX}default"

# --- Broker faults (ops-faults; docs/ARCHITECTURE.md "Faults and observability") ---------------
# A Redis restart or a dropped connection: web, worker and beat reconnect for as long as it takes
# (max_retries None) instead of exiting; dead sockets are noticed by timeouts, TCP keepalive and a
# PING before reuse of an idle connection. The worker also needs wanweb/ops/kombu_workaround.py.
# Every countdown we use stays far below the visibility timeout (shared/RELIABILITY.md section 1);
# messages a worker held when the connection dropped come back after it (or the reconciler
# re-drives their jobs first).
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_TIMEOUT = 5
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    "socket_timeout": 15,  # above kombu's 1 s BRPOP timeout
    "socket_connect_timeout": 3,
    "socket_keepalive": True,
    "health_check_interval": 25,
    "retry_on_timeout": True,
    # A worker on several queues takes from the first non-empty one in its -Q order (kombu's
    # default rotates between them): see WORKER_QUEUES.
    "queue_order_strategy": "priority",
}
# Publishing from a web request: a few quick tries (about 1 s), then the caller decides
# (generations/services.py `_enqueue`: the job stays queued and the reconciler sends it later).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 3,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
# Publishing from a worker (a poll scheduling the next poll, a success enqueueing the store): wait
# for the broker to come back, about 2 minutes, instead of dropping the job's chain (wanweb/celery.py).
WORKER_PUBLISH_RETRY_POLICY = {
    "max_retries": 60,
    "interval_start": 0.5,
    "interval_step": 0.5,
    "interval_max": 2,
}
CELERY_BROKER_POOL_LIMIT = 10
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True  # no result backend today; if one is set, it retries too
CELERY_RESULT_BACKEND_MAX_RETRIES = 10
# Tasks running when the connection drops finish and ack (acks_late) once it is back.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# --- end broker faults ---------------------------------------------------------------------------

ALLOW_PRIVATE_URLS = env_bool("ALLOW_PRIVATE_URLS", False)

# --- https hardening (ops-serve; docs/DEPLOY.md "Behind a proxy") --------------------------------
# When PUBLIC_BASE_URL is https (and DEBUG is off): HSTS, https redirect, secure cookies, and, with
# TRUSTED_PROXY_COUNT > 0, the scheme from the proxy's X-Forwarded-Proto (the proxy must set it
# and strip any a client sent). CSRF_TRUSTED_ORIGINS and ALLOWED_HOSTS get PUBLIC_BASE_URL's origin.
from urllib.parse import urlsplit  # noqa: E402

_public = urlsplit(PUBLIC_BASE_URL)
HTTPS = _public.scheme == "https" and not DEBUG
if _public.scheme in ("http", "https") and _public.netloc:
    CSRF_TRUSTED_ORIGINS = [f"{_public.scheme}://{_public.netloc}"]
    if _public.hostname and _public.hostname not in ALLOWED_HOSTS:
        ALLOWED_HOSTS.append(_public.hostname)
else:
    CSRF_TRUSTED_ORIGINS = []
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if env_int("TRUSTED_PROXY_COUNT", 0) > 0:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
# Load balancers probe over plain http inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS  # subdomains of the app's own host, not of its parent domain
# Preloading is a promise to browser vendors that is slow to undo: the operator opts in.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
# Browser features no page uses are switched off (wanweb/security.py). Clipboard writes ("Copy
# seed") and fullscreen video stay allowed for our own origin.
PERMISSIONS_POLICY = (
    "accelerometer=(), autoplay=(self), camera=(), clipboard-write=(self), display-capture=(), "
    "fullscreen=(self), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), midi=(), "
    "payment=(), usb=()"
)
# Django admin under a path of the operator's choosing (less noise from scanners of /admin/).
ADMIN_URL = (env("ADMIN_URL").strip().strip("/") or "admin") + "/"
# --- end https hardening ----------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Upload limits, checked while the body is parsed (wanweb/uploads.py): files per request, their
# total size, and the whole body (refused from its Content-Length before any of it is read).
UPLOAD_MAX_FILES = env_int("UPLOAD_MAX_FILES", 10)
UPLOAD_MAX_TOTAL_BYTES = env_int("UPLOAD_MAX_TOTAL_MB", 200) * 1024 * 1024
UPLOAD_MAX_REQUEST_BYTES = UPLOAD_MAX_TOTAL_BYTES + DATA_UPLOAD_MAX_MEMORY_SIZE
# Django's own count check is the backstop; ours speaks first with a form error.
DATA_UPLOAD_MAX_NUMBER_FILES = UPLOAD_MAX_FILES + 1
FILE_UPLOAD_HANDLERS = [
    "wanweb.uploads.LimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]


# Content-Security-Policy (django-csp 4; docs/ARCHITECTURE.md "Content-Security-Policy"): scripts
# only from our own static files, so no inline <script>, no onclick=, no eval (htmx is configured
# for that in base.html). Styles: stylesheets only from 'self'; style="" attributes stay allowed
# (style-src-attr) because progress bars and usage meters set their width from server values,
# and an attribute cannot carry a selector, so it cannot be used to read the page.
def _csp_media_origins() -> list[str]:
    """Where files may load from besides us: the S3 host that signed file URLs redirect to."""
    origins = env("CSP_MEDIA_ORIGINS").split()
    if S3_BUCKET:
        from urllib.parse import urlsplit

        endpoint = urlsplit(env("S3_ENDPOINT_URL"))
        if endpoint.netloc:  # path-style and virtual-host-style URLs of a custom endpoint
            origins += [
                f"{endpoint.scheme}://{endpoint.netloc}",
                f"{endpoint.scheme}://{S3_BUCKET}.{endpoint.netloc}",
            ]
        else:
            region = env("S3_REGION")
            origins += [f"https://{S3_BUCKET}.s3.amazonaws.com"]
            if region:
                origins += [
                    f"https://{S3_BUCKET}.s3.{region}.amazonaws.com",
                    f"https://s3.{region}.amazonaws.com",
                ]
    return origins


CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:", *_csp_media_origins()],
        "media-src": ["'self'", "data:", "blob:", *_csp_media_origins()],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

# --- Observability (ops-faults; docs/ARCHITECTURE.md "Faults and observability") ----------------
# LOG_FORMAT=json: one JSON object per line (wanweb/ops/logs.py); anything else: plain text.
LOG_FORMAT = env("LOG_FORMAT", "text").strip().lower()
# /readyz fails when the oldest queued job waited longer than this many seconds (0: never).
READYZ_MAX_QUEUED_SECONDS = env_int("READYZ_MAX_QUEUED_SECONDS", 0)
# Worker heartbeats (wanweb/ops/heartbeat.py) are Redis keys with this prefix.
OPS_HEARTBEAT_PREFIX = "wanweb:worker-heartbeat:"
SENTRY_DSN = env_secret("SENTRY_DSN")
if SENTRY_DSN:
    from wanweb.ops import sentry as _sentry

    _sentry.init(SENTRY_DSN, environment=env("SENTRY_ENVIRONMENT"), release=env("SENTRY_RELEASE"))
# --- end observability -------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every record is redacted before it is written (vendor keys quoted in errors, bearer tokens).
    "filters": {"redact": {"()": "wanweb.redaction.RedactingFilter"}},
    "formatters": {"chosen": {"()": "wanweb.ops.logs.formatter_for", "log_format": LOG_FORMAT}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact"], "formatter": "chosen"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"httpx": {"level": "WARNING"}},  # httpx logs full URLs, which may carry tokens
}

# Vendor callbacks (fal, Lumenfall) reach us only on a public https address; elsewhere we poll.
WEBHOOKS_ENABLED = env_bool("WEBHOOKS_ENABLED", PUBLIC_BASE_URL.startswith("https://"))
# Hand vendors signed URLs of input files (fields such as DashScope's reference_urls take only a
# URL). Needs an address the vendor can reach; otherwise inputs travel as bytes.
INPUT_URLS_ENABLED = env_bool("INPUT_URLS_ENABLED", PUBLIC_BASE_URL.startswith("https://"))

# The public API (wanweb/api/): requests a minute per token (0: no cap).
API_RATE_LIMIT_PER_MINUTE = int(env("API_RATE_LIMIT_PER_MINUTE", "120") or 0)
API_RATE_LIMIT_PREFIX = "wanweb-api-rate"

# Polls have a queue of their own, so a due poll never waits behind submits or downloads; they are
# sent when due by the poll dispatcher (generations/dispatch.py), never as countdown messages.
CELERY_TASK_ROUTES = {
    "generations.tasks.job_store_outputs_task": {"queue": f"{QUEUE_PREFIX}downloads"},
    "generations.tasks.job_poll_task": {"queue": f"{QUEUE_PREFIX}polls"},
    "generations.tasks.job_poll_batch_task": {"queue": f"{QUEUE_PREFIX}polls"},
}
# Every queue the app sends to, in the order one worker serving them all (`make run`, the benches)
# should take them ("priority" below): polls (short, and late is the cost), then downloads
# (finishing jobs), then default (submits: starting new ones).
WORKER_QUEUES = [f"{QUEUE_PREFIX}polls", f"{QUEUE_PREFIX}downloads", CELERY_TASK_DEFAULT_QUEUE]
CELERY_BEAT_SCHEDULE = {
    "reconcile-silent-jobs": {"task": "generations.tasks.job_reconcile_task", "schedule": 60.0},
    # Uploads kept for the generation form that no job took (generations/uploads.py).
    "clean-pending-uploads": {"task": "generations.tasks.pending_upload_cleanup_task", "schedule": 600.0},
    # Outgoing API webhooks: attempts due after long backoffs, and any finish that sent no signal.
    "sweep-api-webhooks": {"task": "wanweb.api.tasks.webhook_sweep_task", "schedule": 60.0},
}

# Broker keys for a Redis shared with other deployments or runs: CELERY_BROKER_KEY_PREFIX goes in
# front of every key (kombu's global_keyprefix), so one's workers never take, or restore after a
# crash, the other's messages. CELERY_UNACKED_RESTORE_SECONDS: how often a worker sweeps for
# unacked messages past the visibility timeout (kombu's default: about every 100 s). Both unset:
# nothing changes.
if env("CELERY_BROKER_KEY_PREFIX"):
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = env("CELERY_BROKER_KEY_PREFIX")
if env("CELERY_UNACKED_RESTORE_SECONDS"):
    CELERY_BROKER_TRANSPORT_OPTIONS["unacked_restore_interval"] = env_int(
        "CELERY_UNACKED_RESTORE_SECONDS", 10
    )
    CELERY_BROKER_TRANSPORT_OPTIONS["unacked_restore_throttle"] = 1
