# The image of every Python service of the course platform (user, course, payment, enrollment, notification,
# content): one definition, the service chosen by build arguments. The storefront has its own Dockerfile.
# Build context is platform-services/ (so that common/ can be copied). coursectl passes SERVICE (the service's
# name in coursectl.yaml) and SERVICE_PORT (its port there); by hand:
#   docker build -f platform-services/python-service.Dockerfile \
#     --build-arg SERVICE=course --build-arg SERVICE_PORT=8002 \
#     --build-arg BASE_IMAGE=python:3.11-slim --build-arg APP_VERSION=1.0.0 \
#     --build-arg GIT_SHA=$(git rev-parse HEAD) --build-arg BUILD_TIME=$(date -u +%Y-%m-%dT%H:%M:%SZ) \
#     -t course-platform/course:1.0.0 platform-services
# The base image needs only python3 with the venv module (python:3.11-slim, or Debian's python3 + python3-venv).
# The service's folder <SERVICE>/ holds pyproject.toml (with the console script <SERVICE>-service) and the
# package <SERVICE>_service/.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY common/ common/
# the shared library and its dependencies first (before any build argument of the service): every service,
# and every change to one service alone, reuses this layer
RUN python3 -m venv /opt/venv && /opt/venv/bin/python3 -m pip install ./common
ARG SERVICE
ARG SERVICE_PORT
RUN test -n "${SERVICE}" && test -n "${SERVICE_PORT}" \
    || { echo "the build arguments SERVICE and SERVICE_PORT are required (SERVICE=course ...)" >&2; \
         exit 1; }
COPY ${SERVICE}/pyproject.toml ${SERVICE}/pyproject.toml
COPY ${SERVICE}/${SERVICE}_service/ ${SERVICE}/${SERVICE}_service/
# the service's console script under one name, so that one CMD starts whichever service this image holds
RUN /opt/venv/bin/python3 -m pip install ./${SERVICE} \
 && /opt/venv/bin/python3 -m pip uninstall --yes pip \
 && ln -s "${SERVICE}-service" /opt/venv/bin/platform-service

FROM ${BASE_IMAGE}
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/course-platform --shell /usr/sbin/nologin app \
 && mkdir -p /var/lib/course-platform \
 && chown app:app /var/lib/course-platform
COPY --from=builder /opt/venv /opt/venv
ARG SERVICE
ARG SERVICE_PORT
# what changes with every commit comes after the layers that do not depend on it
ARG APP_VERSION=0.0.0-dev
ARG GIT_SHA=unknown
ARG BUILD_TIME=unknown
ARG SOURCE_URL=https://example.invalid/coursectl
LABEL org.opencontainers.image.title="course-platform-${SERVICE}" \
      org.opencontainers.image.description="Course platform: the ${SERVICE} service" \
      org.opencontainers.image.version="${APP_VERSION}" \
      org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.created="${BUILD_TIME}" \
      org.opencontainers.image.source="${SOURCE_URL}"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_VERSION=${APP_VERSION} \
    GIT_SHA=${GIT_SHA} \
    BUILD_TIME=${BUILD_TIME} \
    HOST=127.0.0.1 \
    PORT=${SERVICE_PORT} \
    DATABASE_URL=sqlite:////var/lib/course-platform/${SERVICE}.db
WORKDIR /var/lib/course-platform
USER 10001:10001
EXPOSE ${SERVICE_PORT}
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["python3", "-m", "course_healthcheck"]
CMD ["/opt/venv/bin/platform-service"]
