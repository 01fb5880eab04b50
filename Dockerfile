# One image for the app side (demo app under opentelemetry-instrument) and the collector service.

# The browser demo (ui-new/), served by the demo app at /ui/.
FROM node:20-slim AS ui
WORKDIR /ui
COPY ui-new/package.json ui-new/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY ui-new/ ./
RUN npm run build

FROM python:3.11-slim
WORKDIR /srv
COPY pyproject.toml README.md ./
COPY otel_distro ./otel_distro
COPY collector ./collector
COPY examples ./examples
COPY --from=ui /ui/dist ./ui-new/dist
COPY setup.py ./
# gcc only while installing: it builds the collector's C OTLP/JSON transcoder (setup.py; optional, the file exporter
# falls back to its Python encoder without it), then leaves the image. The build is optional for pip, not for the
# image: the import check fails the build if the extension was not built.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install --no-cache-dir '.[demo]' 'psycopg[binary]>=3.1' \
    && (cd / && python -c "import collector.otlpjson._ctranscode") \
    && apt-get purge -y --auto-remove gcc libc6-dev && rm -rf /var/lib/apt/lists/*
COPY otel-collector.yaml ./
ENV PYTHONUNBUFFERED=1
CMD ["otel-distro", "collector", "run", "--config", "/srv/otel-collector.yaml"]
