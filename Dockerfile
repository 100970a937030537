# telecase processes (connector, worker, projector, desk, dashboard) for docker-compose.yml.
# Every package pyproject.toml ships is copied: `telecase run --demo` drives simulators/, and
# `telecase bench` runs bench/ (tests/ops/test_dockerfile.py checks the list).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY projections ./projections
COPY connectors ./connectors
COPY simulators ./simulators
COPY bench ./bench
COPY telecase ./telecase
RUN pip install --no-cache-dir .
ENV TELECASE_DATA_DIR=/var/lib/telecase
ENTRYPOINT ["telecase"]
