# syntax=docker/dockerfile:1
# The Leoflow control plane: leoflow-server (the /api/v2 API, the scheduler, the agent gRPC
# service, the executors) and the leoflow CLI (for `leoflow db migrate` in the chart's
# migrations Job). Build from the repository's root:
#
#   docker build -f packaging/controlplane.Dockerfile -t leoflow-server:dev .
#
# Two stages: the first builds Leoflow's wheel and a virtual environment with the `pro`
# extra (Redis, the Kubernetes client, the Docker client), not the `lite` extra (Lite's
# IDE, which the server never serves); the second copies only that environment onto a
# clean slim Python, so no compiler or build cache ships.
#
# The build stage also bakes in Apache Airflow's web UI (`leoflow ui install`: the
# apache-airflow-core wheel downloaded without dependencies, its sha256 checked, only the
# UI's files kept) under /opt/leoflow/airflow-ui. The server serves it when
# LEOFLOW_AIRFLOW_UI_DIR names that folder (the Helm chart's airflowUi.enabled).
# --build-arg AIRFLOW_UI_VERSION= (empty) builds an image without it.

ARG PYTHON_VERSION=3.12
ARG AIRFLOW_UI_VERSION=3.3.2

FROM python:${PYTHON_VERSION}-slim AS build
ARG AIRFLOW_UI_VERSION
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY leoflow ./leoflow
COPY examples ./examples
RUN python -m venv /opt/leoflow/venv \
 && /opt/leoflow/venv/bin/pip install --upgrade pip wheel \
 && /opt/leoflow/venv/bin/pip wheel --no-deps --wheel-dir /tmp/wheels . \
 && /opt/leoflow/venv/bin/pip install "$(ls /tmp/wheels/leoflow-*.whl)[pro]"
RUN mkdir -p /opt/leoflow/airflow-ui \
 && if [ -n "$AIRFLOW_UI_VERSION" ]; then \
      /opt/leoflow/venv/bin/leoflow ui install --version "$AIRFLOW_UI_VERSION" \
        --dir /opt/leoflow/airflow-ui; \
    fi

FROM python:${PYTHON_VERSION}-slim
LABEL org.opencontainers.image.title="leoflow-server" \
      org.opencontainers.image.description="Leoflow Pro control plane: API, scheduler, agent service" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed, unprivileged uid/gid: the Helm chart's securityContext runs as 10001 too.
RUN groupadd --system --gid 10001 leoflow \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/leoflow --create-home \
      --shell /usr/sbin/nologin leoflow
COPY --from=build /opt/leoflow/venv /opt/leoflow/venv
COPY --from=build /opt/leoflow/airflow-ui /opt/leoflow/airflow-ui
ENV PATH="/opt/leoflow/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/leoflow \
    LEOFLOW_HOME=/var/lib/leoflow
WORKDIR /var/lib/leoflow
USER 10001:10001
# HTTP API (and /metrics), and the gRPC agent service that task pods dial.
EXPOSE 8080 50051
# No curl in the slim image: the health probe is a few lines of the image's own Python.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/api/v2/monitor/health', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["leoflow-server"]
CMD ["--host", "0.0.0.0", "--port", "8080", "--grpc-host", "0.0.0.0", "--grpc-port", "50051", \
     "--log-json"]
