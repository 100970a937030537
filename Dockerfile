# telecase processes (connector, worker, projector) for docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY projections ./projections
COPY connectors ./connectors
COPY telecase ./telecase
RUN pip install --no-cache-dir .
ENV TELECASE_DATA_DIR=/var/lib/telecase
ENTRYPOINT ["telecase"]
