# One image for every process of the registry (marketplace/registry.py): `serve-write`, `serve-read`, `project <name>`,
# `checkout`, `labels`, `notify` and the sandbox `gateway`.
# Configuration comes only from MARKETPLACE_* variables at run time; nothing secret is baked in.
# The load test and demo loader (loadtest/, the `loadtest` extra: Locust, matplotlib) stay out.

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY commands ./commands
COPY projections ./projections
COPY workers ./workers
COPY readapi ./readapi
COPY writeapi ./writeapi
COPY infra ./infra
COPY marketplace ./marketplace
COPY analytics ./analytics
RUN pip install .


FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MARKETPLACE_HOST=0.0.0.0 \
    MARKETPLACE_DATA_DIR=/var/lib/marketplace

RUN groupadd --system --gid 10001 marketplace \
    && useradd --system --uid 10001 --gid marketplace --home-dir /home/marketplace \
       --create-home --shell /usr/sbin/nologin marketplace \
    && install -d -o marketplace -g marketplace -m 0750 \
       /var/lib/marketplace /var/lib/marketplace/blobs

COPY --from=build /opt/venv /opt/venv

WORKDIR /home/marketplace
USER 10001:10001

EXPOSE 8000 8001 8010
ENTRYPOINT ["marketplace"]
CMD ["--help"]
