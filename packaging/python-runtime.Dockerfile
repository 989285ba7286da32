# syntax=docker/dockerfile:1
# The base of DAG images: a slim Python of the DAG's version, uv to build environments, an
# unprivileged user and the folders a DAG image fills. `leoflow compile DIR --build` can use
# it with --base-image (docs/images.md); the DAG image adds the project, its dependencies in
# /opt/leoflow/dag-venv, the agent in /opt/leoflow/agent-venv, and `leoflow-agent` as the
# entrypoint. Build one per Python version:
#
#   docker build -f packaging/python-runtime.Dockerfile --build-arg PYTHON_VERSION=3.11 \
#     -t leoflow-python-runtime:3.11 packaging
#
# It needs no build context of its own (nothing is copied in).

ARG PYTHON_VERSION=3.12
FROM python:${PYTHON_VERSION}-slim
ARG UV_VERSION=0.13.9
LABEL org.opencontainers.image.title="leoflow-python-runtime" \
      org.opencontainers.image.description="Base image of Leoflow DAG images: Python and uv" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1
# uv from PyPI: its binary ships in the wheel, so no download outside the package index.
RUN pip install "uv==${UV_VERSION}" \
 && groupadd --system --gid 10001 leoflow \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/leoflow --create-home \
      --shell /usr/sbin/nologin leoflow \
 && mkdir -p /opt/leoflow/project \
 && chown -R 10001:10001 /opt/leoflow
ENV HOME=/home/leoflow
WORKDIR /opt/leoflow/project
USER 10001:10001
CMD ["python"]
