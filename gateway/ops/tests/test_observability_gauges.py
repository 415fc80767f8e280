"""The gauges the alert rules read (deploy/observability/prometheus/alerts.yml): settlement backlog, queue depth."""

from datetime import timedelta

import time_machine
from django.conf import settings
from django.utils import timezone

from gateway.ops import tasks
from gateway.ops.tests.test_broadcast import metric_value
from nebengjek.celery import app
from nebengjek.redis import get_redis
from rides.services import ride_end
from rides.tests.factories import make_in_progress_ride


def test_the_ledger_check_publishes_how_long_the_oldest_unsettled_ride_has_waited():
    ride = make_in_progress_ride()
    eager, app.conf.task_always_eager = app.conf.task_always_eager, False  # no worker: the settlement waits queued
    try:
        with time_machine.travel(timezone.now() - timedelta(minutes=5)):
            ride_end(ride=ride, user=ride.driver)
    finally:
        app.conf.task_always_eager = eager

    tasks.ledger_check()

    assert 300 <= metric_value("nebengjek_settlement_backlog_age_seconds") < 400


def test_the_ledger_check_publishes_no_backlog_when_every_ride_is_settled():
    tasks.ledger_check()

    assert metric_value("nebengjek_settlement_backlog_age_seconds") == 0


def test_the_broadcaster_publishes_how_many_messages_wait_in_each_celery_queue():
    get_redis(settings.CELERY_BROKER_URL).rpush("celery", "m1", "m2", "m3")

    tasks.ops_broadcast()

    assert metric_value('nebengjek_celery_queue_depth{queue="celery"}') == 3
    assert metric_value(f'nebengjek_celery_queue_depth{{queue="{settings.MATCHING_QUEUE}"}}') == 0
