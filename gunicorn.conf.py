"""gunicorn settings for wanweb's web process (`make serve`, Procfile, compose.yaml; docs/DEPLOY.md).

Why gunicorn: the app is plain WSGI Django (no async views), gunicorn is the long-standing,
well-kept pre-fork server with graceful reloads, and whitenoise serves static files inside it.

Environment: WEB_CONCURRENCY (worker processes), PORT (listen on 0.0.0.0:PORT, the Procfile/PaaS
convention) or WANWEB_HOST/WANWEB_PORT (default 127.0.0.1:8000), FORWARDED_ALLOW_IPS (read by
gunicorn itself). Anything else: GUNICORN_CMD_ARGS, e.g. "--timeout 120".
"""

import multiprocessing
import os

if os.environ.get("PORT"):
    bind = f"0.0.0.0:{os.environ['PORT']}"
else:
    bind = f"{os.environ.get('WANWEB_HOST', '127.0.0.1')}:{os.environ.get('WANWEB_PORT', '8000')}"

# (2 x cores) + 1, capped: requests mostly wait on the database, and a few threads per process
# keep slow clients (uploads, the streamed zip) from holding a whole worker.
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * multiprocessing.cpu_count() + 1, 12))
worker_class = "gthread"
threads = 4

# A worker silent this long is killed and replaced. Generation never runs in web (Celery does);
# the slowest request is a large upload or zip, which keeps its thread busy but the worker alive.
timeout = 60
graceful_timeout = 30  # SIGTERM: finish in-flight requests for up to this long
keepalive = 5  # behind a proxy that keeps connections open to us

# Recycle workers now and then so a slow leak never grows without bound.
max_requests = 2000
max_requests_jitter = 200

# Access log and errors to stdout/stderr: the supervisor, Docker or systemd collects them.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Both through the app's redaction: share links and vendor input URLs carry tokens in their paths.
logger_class = "wanweb.ops.gunicorn_logging.RedactingLogger"

# Proxy headers: gunicorn takes X-Forwarded-Proto (and friends) only from the addresses in
# forwarded_allow_ips, default 127.0.0.1 (a proxy on the same machine). Behind a proxy on another
# host set FORWARDED_ALLOW_IPS to its address (or "*" when only the proxy can reach this port),
# and TRUSTED_PROXY_COUNT for Django (SECURE_PROXY_SSL_HEADER and client addresses).
# forwarded_allow_ips is left to gunicorn's own FORWARDED_ALLOW_IPS environment variable.

# Worker heartbeat files in memory where there is one (containers often have a slow /tmp).
if os.path.isdir("/dev/shm"):  # noqa: S108 (gunicorn's own advice for containers)
    worker_tmp_dir = "/dev/shm"  # noqa: S108

# gunicorn >= 24 opens a control socket at one fixed path per user (~/.gunicorn/gunicorn.ctl):
# two servers on one machine (a test and `make serve`, two checkouts) would fight over it.
control_socket_disable = True


def post_worker_init(worker):
    """Import the URLconf (every urls and views module) before this worker takes its first request.

    Django does it on the first request otherwise: 0.3-0.7 s on 2 shared cores, paid by the first
    request of every new worker (each deploy, and every max_requests). A vendor webhook arriving
    then took ~0.75 s instead of ~20 ms (issue 13 wants <= 0.3 s; docs/BENCHMARKS.md section 4).
    """
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (a cached property: reading it imports the URLconf)
