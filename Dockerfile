# syntax=docker/dockerfile:1
#
# The baocao application image: one image, every process (`baocao migrate`, `worker`, `sink`,
# `simulate`, ...); docker-compose.yml picks the command. Configuration comes only from the
# BAOCAO_* environment variables of baocao/core/settings.py, so nothing deployment-specific is
# baked in here.
#
# Two stages: the package is built and installed into a virtualenv in the first, and only that
# virtualenv reaches the runtime stage (no source tree, no build tooling, no pip cache).

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# .dockerignore keeps the context to what `pip install .` needs (no .venv, .git, tests, state).
COPY . .
RUN pip install .


FROM ${PYTHON_IMAGE}

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# A fixed, unprivileged user; the worker's RocksDB state directory, the BI and the Kafka
# credentials directories are created here and owned by it, so named volumes mounted on them start with the
# right owner.
RUN groupadd --system --gid 10001 baocao \
    && useradd --system --uid 10001 --gid baocao --home-dir /home/baocao --create-home baocao \
    && install -d -o baocao -g baocao /var/lib/baocao/worker /var/lib/baocao/stack/bi /var/lib/baocao/grafana-secrets \
    && install -d -m 0700 -o baocao -g baocao /var/lib/baocao/stack/kafka/credentials

COPY --from=build /opt/venv /opt/venv

USER baocao
WORKDIR /home/baocao

ENTRYPOINT ["baocao"]
CMD ["--help"]
