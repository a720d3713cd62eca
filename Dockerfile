# syntax=docker/dockerfile:1
# One image for every Rota process: `rota server` (the default), `rota worker`, `rota migrate`.
#   docker build -t rota .
#   docker run -p 8077:8077 -v rota-data:/var/lib/rota rota                 # SQLite server
#   docker run -e ROTA_DB=postgresql://... rota server                      # one of N servers
#   docker run -e ROTA_SERVER=http://rota:8077 rota worker --import yourapp.tasks
# Workers run your tasks' code: build FROM this image and install your application into
# /opt/rota (the image's virtual environment, first on PATH).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
RUN python -m venv /opt/rota
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/rota/bin/pip install --no-cache-dir --disable-pip-version-check . \
    && find /opt/rota -name '__pycache__' -prune -exec rm -rf {} +

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="rota" \
      org.opencontainers.image.description="Rota: a distributed task scheduler for Python"
RUN groupadd --system --gid 10001 rota \
    && useradd --system --no-log-init --uid 10001 --gid rota \
       --home-dir /var/lib/rota --create-home --shell /usr/sbin/nologin rota
COPY --from=build /opt/rota /opt/rota
# The server listens on every address of the container; ROTA_DB defaults to a SQLite file on
# the volume, and a postgresql:// DSN in ROTA_DB turns it into one of N servers.
ENV PATH=/opt/rota/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ROTA_HOST=0.0.0.0 \
    ROTA_PORT=8077 \
    ROTA_DB=/var/lib/rota/rota.db
WORKDIR /var/lib/rota
VOLUME ["/var/lib/rota"]
USER 10001:10001
EXPOSE 8077
# Liveness of a server: /healthz on its own port (a worker has no port: disable the check for
# workers, as deploy/compose.yaml does; Kubernetes uses its own probes instead).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('ROTA_PORT', '8077'), timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["rota"]
CMD ["server"]
