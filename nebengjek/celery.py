"""The Celery app: broker is Redis, settings come from Django's (CELERY_*), tasks from each app's tasks.py.

The request id of the HTTP request (or task) that enqueued a task travels in the message headers, so a task's
logs carry the same `request_id` as the request that caused it.
"""

import contextvars
import logging
import os

from celery import Celery
from celery.signals import before_task_publish, task_failure, task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nebengjek.settings")

app = Celery("nebengjek")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger("nebengjek.tasks")
_tokens: dict[str, contextvars.Token[str]] = {}


@before_task_publish.connect
def _attach_request_id(headers=None, **kwargs):
    from nebengjek.middleware import current_request_id

    if headers is not None and current_request_id():
        headers.setdefault("request_id", current_request_id())


@task_prerun.connect
def _adopt_request_id(task_id=None, task=None, **kwargs):
    from nebengjek.middleware import request_id_var

    request_id = getattr(task.request, "request_id", None) or (task.request.headers or {}).get("request_id")
    if request_id:
        _tokens[task_id] = request_id_var.set(request_id)


@task_postrun.connect
def _drop_request_id(task_id=None, **kwargs):
    from nebengjek.middleware import request_id_var

    token = _tokens.pop(task_id, None)
    if token is not None:
        request_id_var.reset(token)


@task_prerun.connect
@task_postrun.connect
def _recycle_old_connections(task=None, **kwargs):
    """Django's request-cycle rule for each task: a connection past CONN_MAX_AGE, broken or left in an error state
    is closed, and health checks apply (Celery's fixup only closes every CELERY_DB_REUSE_MAX tasks)."""
    if not getattr(getattr(task, "request", None), "is_eager", False):
        from django.db import close_old_connections

        close_old_connections()


@task_failure.connect
def _log_task_failure(sender=None, task_id=None, exception=None, **kwargs):
    from nebengjek.metrics import CELERY_TASK_FAILURES

    CELERY_TASK_FAILURES.labels(task=getattr(sender, "name", "unknown")).inc()
    logger.error(
        "task failed", extra={"task": getattr(sender, "name", None), "task_id": task_id, "error": repr(exception)}
    )
