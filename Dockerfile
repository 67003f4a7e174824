# wanweb's image: one image for web, workers and beat (compose.yaml picks the command).
# Build: docker build -t wanweb .   Run: see docs/DEPLOY.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first (cached while only the code changes). PyAV, Pillow and psycopg ship wheels
# with their native libraries, so no compiler or system packages are needed.
COPY pyproject.toml README.md ./
RUN mkdir -p wanweb generations providers && touch wanweb/__init__.py generations/__init__.py providers/__init__.py \
    && pip install '.[s3]' && pip uninstall -y wanweb

COPY . .
RUN pip install --no-deps '.[s3]' \
    # Static files are part of the image: hashed, compressed, served by whitenoise inside gunicorn.
    # collectstatic needs no database and no real key (it signs nothing).
    && DEBUG=false SECRET_KEY=collectstatic-only-not-a-secret python manage.py collectstatic --no-input -v 0 \
    && useradd --create-home --uid 10001 wanweb \
    && mkdir -p /app/media /app/var && chown -R wanweb /app/media /app/var

USER wanweb
ENV DEBUG=false \
    MEDIA_ROOT=/app/media \
    PORT=8000
EXPOSE 8000

# compose.yaml and the Procfile override the command for workers and beat.
CMD ["gunicorn", "--config", "gunicorn.conf.py", "wanweb.wsgi:application"]
