"""Cross-cutting metrics on /metrics beside django-prometheus' own (each domain keeps its own in its app)."""
from prometheus_client import Counter

CELERY_TASK_FAILURES = Counter("nebengjek_celery_task_failures_total", "Celery tasks that raised", ["task"])
