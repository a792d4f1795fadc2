# PagePulse server image. Front-end assets come from npm at build time (pinned in
# package.json); nothing third-party is committed to the repository.
FROM python:3.12-slim AS assets
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json Makefile ./
COPY pagepulse/ingest/tracker/script.js pagepulse/ingest/tracker/script.js
RUN npm ci --no-audit --no-fund && touch node_modules/.installed \
    && make pagepulse/web/static/vendor/htmx.min.js pagepulse/ingest/tracker/dist/script.js

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PAGEPULSE_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pagepulse pagepulse
COPY queries queries
COPY templates templates
COPY --from=assets /src/pagepulse/web/static/vendor pagepulse/web/static/vendor
COPY --from=assets /src/pagepulse/ingest/tracker/dist pagepulse/ingest/tracker/dist
# Editable: templates/ and queries/ sit beside the package, as in the repository.
RUN pip install --no-cache-dir -e . && useradd --system --home /data pagepulse \
    && mkdir -p /data && chown pagepulse /data
USER pagepulse
VOLUME /data
EXPOSE 8000
CMD ["pagepulse", "serve", "--host", "0.0.0.0", "--port", "8000"]
