# One image for the app side (demo app under opentelemetry-instrument) and the collector service.
FROM python:3.11-slim
WORKDIR /srv
COPY pyproject.toml README.md ./
COPY otel_distro ./otel_distro
COPY collector ./collector
COPY examples ./examples
RUN pip install --no-cache-dir '.[demo]' 'psycopg[binary]>=3.1'
COPY otel-collector.yaml ./
ENV PYTHONUNBUFFERED=1
CMD ["otel-distro", "collector", "run", "--config", "/srv/otel-collector.yaml"]
