# syntax=docker/dockerfile:1
#
# exoccm image: a uv-built virtualenv on python:3.11-slim-bookworm, run as UID/GID 65532.
#
#   docker build -t exoccm:0.1.0 --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
#
# podman builds it too (`podman build` with the same arguments). `nox -s image` builds it on a
# local stand-in for the base image and runs it (docs/operations.md, "The container image").
#
# Both stages must use the same base image: the virtualenv's interpreter is a symlink to
# /usr/local/bin/python3.11, which the runtime stage provides at the same path. The base is pinned
# by tag only, because digests cannot be checked offline where this file was written; a release
# build should pin PYTHON_IMAGE by digest (python:3.11-slim-bookworm@sha256:...).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder

# uv at the version the repository pins for ./dev (tools/bootstrap-requirements.txt); the
# constraint file pins it, and nothing else from that file is installed.
RUN --mount=type=bind,source=tools/bootstrap-requirements.txt,target=/tmp/bootstrap-requirements.txt \
    pip install --no-cache-dir --disable-pip-version-check \
        --constraint /tmp/bootstrap-requirements.txt uv

# Bytecode compiled at build time (the root filesystem is read-only at run time), files copied
# out of uv's cache (a cache mount cannot be hard-linked into the image), the image's Python only.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /src

# Dependencies first, from the lock alone, so a source change reuses this layer. --locked fails
# if uv.lock is out of date; --no-dev and --no-default-groups leave out every dependency group
# (test, lint, ...), and no --extra means no "demo" extra (simulator, local control plane).
# Bind-mount targets are absolute: BuildKit accepts relative ones, podman/buildah do not.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=/src/uv.lock \
    --mount=type=bind,source=pyproject.toml,target=/src/pyproject.toml \
    uv sync --locked --no-dev --no-default-groups --no-editable --no-install-project

# Then exoccm itself, installed as a wheel (--no-editable): /app/.venv does not need /src.
COPY pyproject.toml uv.lock README.md LICENSE ./
COPY exoccm ./exoccm
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-default-groups --no-editable


FROM ${PYTHON_IMAGE}

# The package version (pyproject.toml), which release builds pass; a test keeps the default equal.
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="exoccm" \
      org.opencontainers.image.description="Kubernetes cloud controller manager for Exoscale" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm"

# No package manager tooling at run time: the application lives in /app/.venv, which has no pip.
# The user matches the chart's runAsUser/runAsGroup.
RUN python -m pip uninstall --yes --disable-pip-version-check pip setuptools wheel \
    && groupadd --system --gid 65532 exoccm \
    && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin exoccm

COPY --from=builder /app/.venv /app/.venv

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONFAULTHANDLER=1

USER 65532:65532
WORKDIR /app

# /metrics, /healthz and /readyz (EXOCCM_METRICS_PORT).
EXPOSE 10258

# Exec form: exoccm is PID 1 and receives the kubelet's SIGTERM itself (it handles it: stops
# taking work, releases its Lease).
ENTRYPOINT ["/app/.venv/bin/exoccm"]
CMD ["run"]
