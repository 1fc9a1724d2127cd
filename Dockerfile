FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CHILDPROTECT_ENV=production \
    CHILDPROTECT_MIGRATIONS_DIR=/app/migrations

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY migrations ./migrations
RUN pip install . && useradd --system --uid 10001 --home /app childprotect \
    && chown -R childprotect /app
USER childprotect

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"

# Needs DATABASE_URL, CHILDPROTECT_JWT_KEYS and CHILDPROTECT_DATA_KEY; migrates on start.
CMD ["childprotect-api", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
