"""The broadcaster: snapshots to the staff group while someone watches, gauges on /metrics always."""

import orjson
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.test import Client

from accounts.tests.factories import make_driver, make_passenger
from gateway.ops import tasks
from locations.services import beacon_set, location_ingest
from nebengjek.realtime import OPS_GROUP

MONAS = (-6.175392, 106.827153)


def put_online(driver, point=MONAS):
    beacon_set(user=driver, active=True)
    location_ingest(user=driver, lat=point[0], lng=point[1])


def open_ops_page():
    client = Client()
    client.force_login(make_passenger(msisdn="+628110000002", is_staff=True))
    assert client.get("/ops/token").status_code == 200


def metric_value(name, default=None):
    """The value of one sample on /metrics (`default` for a labelled child not created yet)."""
    text = Client().get("/metrics").content.decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    if default is not None:
        return default
    raise AssertionError(f"{name} not on /metrics")


def test_with_nobody_watching_the_tick_only_refreshes_the_gauges():
    put_online(make_driver())

    assert tasks.ops_broadcast() == "gauges"
    assert metric_value("nebengjek_online_drivers") == 1
    assert metric_value("nebengjek_available_drivers") == 1


def test_gauges_are_not_recomputed_on_every_idle_tick():
    tasks.ops_broadcast()

    assert tasks.ops_broadcast() == "idle"


def test_while_a_page_is_open_a_changed_snapshot_is_sent_once():
    open_ops_page()
    put_online(make_driver())

    assert tasks.ops_broadcast() == "sent"
    assert tasks.ops_broadcast() == "unchanged"


def test_a_new_online_driver_changes_the_snapshot():
    open_ops_page()
    tasks.ops_broadcast()
    put_online(make_driver())

    assert tasks.ops_broadcast() == "sent"


async def test_staff_group_receives_the_snapshot_as_a_ready_socket_message():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(OPS_GROUP, channel)
    driver = await sync_to_async(make_driver)()
    await sync_to_async(put_online)(driver)
    await sync_to_async(open_ops_page)()

    await sync_to_async(tasks.ops_broadcast)()

    message = await layer.receive(channel)
    assert message["type"] == "ops.snapshot"
    body = orjson.loads(message["text"])
    assert body["type"] == "ops.snapshot"
    assert [row[0] for row in body["drivers"]] == [str(driver.id)]
    await layer.group_discard(OPS_GROUP, channel)


def test_ledger_check_publishes_a_clean_verdict():
    before = metric_value("nebengjek_ledger_checked_timestamp_seconds")

    assert tasks.ledger_check() == 0
    assert metric_value("nebengjek_ledger_checked_timestamp_seconds") > before
    assert metric_value("nebengjek_ledger_problems") == 0
    assert metric_value("nebengjek_ledger_imbalance_idr") == 0


def test_a_settlement_is_counted_once_with_its_lag():
    from billing.services import ride_settle
    from rides.services import ride_end
    from rides.tests.factories import make_in_progress_ride

    ride = make_in_progress_ride()
    before = metric_value('nebengjek_settlements_total{payment_method="cash"}', default=0)
    lag_before = metric_value("nebengjek_settlement_lag_seconds_count")

    ride = ride_end(ride=ride, user=ride.driver)  # settles on commit (Celery eager here)
    ride_settle(ride_id=ride.id)  # a redelivered task changes nothing

    assert metric_value('nebengjek_settlements_total{payment_method="cash"}') == before + 1
    assert metric_value("nebengjek_settlement_lag_seconds_count") == lag_before + 1


def test_a_first_batch_counts_its_proposals_and_times_the_request():
    from datetime import timedelta

    from django.utils import timezone

    from nebengjek import metrics

    sent = metric_value('nebengjek_proposals_total{outcome="sent"}', default=0)
    timed = metric_value("nebengjek_request_to_proposal_seconds_count")
    created = timezone.now()

    metrics.proposals_sent(n=3, batch_no=1, request_created_at=created, proposed_at=created + timedelta(seconds=0.2))
    metrics.proposals_sent(n=2, batch_no=2, request_created_at=created, proposed_at=created + timedelta(seconds=16))

    assert metric_value('nebengjek_proposals_total{outcome="sent"}') == sent + 5
    assert metric_value("nebengjek_request_to_proposal_seconds_count") == timed + 1
