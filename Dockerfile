FROM python:3.11-slim
# Every server process writes its metrics to PROMETHEUS_MULTIPROC_DIR so that /metrics sums them (the web container
# runs two uvicorn workers). Runtime dependencies only: the test tools are in requirements-dev.txt.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PROMETHEUS_MULTIPROC_DIR=/app/var/metrics
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
RUN mkdir -p /app/var/metrics && DEBUG=true python manage.py collectstatic --noinput
RUN useradd --system --uid 1000 nebengjek && chown -R nebengjek /app/var
USER nebengjek
EXPOSE 8000
# The server borrows PostgreSQL connections from a pool per process (settings DB_POOL_MAX_SIZE; as `make run` does).
CMD ["env", "DB_POOL_MAX_SIZE=10", "python", "-m", "uvicorn", "nebengjek.asgi:application", "--host", "0.0.0.0", "--port", "8000", \
     "--ws", "websockets-sansio", "--loop", "uvloop", "--http", "httptools", "--ws-max-size", "4096", \
     "--workers", "2", "--no-access-log"]
