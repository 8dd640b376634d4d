# One image for the three services; docker-compose.yml picks the command.
# The build stage has a C compiler: it compiles the domain core with mypyc (loyalty_stream/tools/compile_domain.py)
# into the virtualenv the runtime stage copies.
FROM python:3.11 AS build
WORKDIR /app
COPY pyproject.toml README.md ./
COPY loyalty_stream loyalty_stream
COPY ingest_api ingest_api
COPY processors processors
COPY schemas schemas
COPY webhook_sender webhook_sender
RUN python -m venv /venv \
 && /venv/bin/pip install --no-cache-dir . "mypy>=1.11" \
 && /venv/bin/python -m loyalty_stream.tools.compile_domain

FROM python:3.11-slim
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH LOYALTY_DATA_DIR=/data LOYALTY_API_HOST=0.0.0.0
VOLUME /data
ENTRYPOINT ["loyalty-stream"]
