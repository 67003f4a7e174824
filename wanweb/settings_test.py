"""Test settings: fast hashing, throwaway media, no vendor keys leaking in from the shell."""

import os
from pathlib import Path

from wanweb.settings import *  # noqa: F403
from wanweb.settings import BASE_DIR, SECRET_KEY, env_bool

# The tests keep a key of their own (the production settings leave it empty outside DEBUG).
SECRET_KEY = SECRET_KEY or "wanweb-tests-only-key-never-used-outside-pytest-0123456789abcdef"  # noqa: S105

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    # Outputs have deterministic names: a re-run store task overwrites instead of renaming.
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"allow_overwrite": True},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", str(BASE_DIR / ".pytest-media")))

# Each test run gets its own queues, so a `make run` worker (or another CI run) on the same Redis
# never takes the tests' tasks, and the tests never take theirs.
import uuid  # noqa: E402

TEST_QUEUE_PREFIX = os.environ.setdefault("WANWEB_TEST_QUEUE_PREFIX", f"wanweb-test-{uuid.uuid4().hex[:8]}")
CELERY_TASK_DEFAULT_QUEUE = f"{TEST_QUEUE_PREFIX}-default"
CELERY_TASK_ROUTES = {
    "generations.tasks.job_store_outputs_task": {"queue": f"{TEST_QUEUE_PREFIX}-downloads"},
    "generations.tasks.job_poll_task": {"queue": f"{TEST_QUEUE_PREFIX}-polls"},
    "generations.tasks.job_poll_batch_task": {"queue": f"{TEST_QUEUE_PREFIX}-polls"},
}
WORKER_QUEUES = [f"{TEST_QUEUE_PREFIX}-polls", f"{TEST_QUEUE_PREFIX}-downloads", CELERY_TASK_DEFAULT_QUEUE]
CELERY_BEAT_SCHEDULE = {}
OPS_HEARTBEAT_PREFIX = f"{TEST_QUEUE_PREFIX}:worker-heartbeat:"  # not a developer's workers
WEBHOOKS_ENABLED = False
INPUT_URLS_ENABLED = False
ALLOW_PRIVATE_URLS = env_bool("ALLOW_PRIVATE_URLS", False)
# A fixed throwaway key for teams' vendor keys, the same in a subprocess worker (tests of
# rotation set their own).
FIELD_ENCRYPTION_KEYS = [
    "Yn_G-iTgBdFVgd5zAQneyf_FK-8TYm1u_8Jvj2BRnGA="
]  # sha256("wanweb tests only"), never a real key

# SQLite's shared-cache in-memory test database answers "table is locked" at once when a
# Celery worker thread and the live server write together; a file honours the busy timeout.
from wanweb.settings import DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f".pytest-{TEST_QUEUE_PREFIX}.sqlite3")}
API_RATE_LIMIT_PREFIX = f"{TEST_QUEUE_PREFIX}-api-rate"
