# One image for the three services; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY loyalty_stream loyalty_stream
COPY ingest_api ingest_api
COPY processors processors
COPY schemas schemas
COPY webhook_sender webhook_sender
RUN pip install --no-cache-dir .
ENV LOYALTY_DATA_DIR=/data LOYALTY_API_HOST=0.0.0.0
VOLUME /data
ENTRYPOINT ["loyalty-stream"]
