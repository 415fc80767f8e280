"""One trace follows a ride request from the view through the dispatch to each driver's socket, and a ride's end
through the settlement task's queue hop to the ledger write (spans kept by an in-memory exporter)."""

import os
import time

from channels.db import database_sync_to_async
from opentelemetry.trace import SpanKind

from locations.services import location_ingest
from matching.tests.conftest import next_of_type
from matching.tests.helpers import ask_for_ride, driver_online, make_passenger
from rides.tests.factories import make_confirmed_ride

db = database_sync_to_async


def _server_span(exporter, method, path_part):
    found = [
        span
        for span in exporter.get_finished_spans()
        if span.kind == SpanKind.SERVER
        and span.attributes.get("http.request.method", span.attributes.get("http.method")) == method
        and path_part in str(span.attributes.get("url.full", span.attributes.get("http.url", "")))
    ]
    assert len(found) == 1, [span.name for span in exporter.get_finished_spans()]
    return found[0]


def _trace_of(exporter, span):
    return [other for other in exporter.get_finished_spans() if other.context.trace_id == span.context.trace_id]


async def test_a_ride_request_is_one_trace_from_the_view_through_the_dispatch_to_each_drivers_push(
    spans, ws, client_for
):
    first, second = await db(driver_online)(300), await db(driver_online)(600)
    first_socket, second_socket = await ws(first), await ws(second)
    passenger_client = await db(client_for)(await db(make_passenger)())

    await db(ask_for_ride)(passenger_client)
    await next_of_type(first_socket, "match.proposal")
    await next_of_type(second_socket, "match.proposal")

    view = _server_span(spans, "POST", "/api/v1/rides/requests")
    trace = _trace_of(spans, view)
    batches = [span for span in trace if span.name == "matching.dispatch_batch"]
    pushes = {span.attributes["enduser.id"] for span in trace if span.name == "ws.push match.proposal"}
    assert view.parent is None
    assert batches and batches[0].attributes["batch.no"] == 1 and batches[0].attributes["batch.proposals"] == 2
    assert pushes == {str(first.pk), str(second.pk)}


def test_a_ride_end_trace_holds_the_settlement_task_after_its_queue_hop_and_the_ledger_write(spans, client_for):
    from celery.contrib.testing.worker import start_worker

    from nebengjek.celery import app

    ride = make_confirmed_ride(payment_method="cash")
    driver = client_for(ride.driver)
    location_ingest(user=ride.driver, lat=-6.2, lng=106.8)
    assert driver.post(f"/api/v1/rides/{ride.id}/start").status_code == 200
    eager, app.conf.task_always_eager = app.conf.task_always_eager, False
    environ = dict(os.environ)  # the worker exports its log settings (CELERY_LOG_LEVEL …) into the environment
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            assert driver.post(f"/api/v1/rides/{ride.id}/end", {}, format="json").status_code == 200
            run = _wait_for_span(spans, "run/billing.tasks.settle_ride")
    finally:
        app.conf.task_always_eager = eager
        os.environ.clear()
        os.environ.update(environ)

    view = _server_span(spans, "POST", f"/api/v1/rides/{ride.id}/end")
    by_id = {span.context.span_id: span for span in _trace_of(spans, view)}
    publish = by_id.get(run.parent.span_id)
    ledger_writes = [
        span
        for span in by_id.values()
        if span.name == "billing.ledger_write" and span.parent.span_id == run.context.span_id
    ]
    assert run.context.trace_id == view.context.trace_id
    assert (
        publish is not None
        and publish.kind == SpanKind.PRODUCER
        and publish.name == run.name.replace("run/", "apply_async/")
    )
    assert len(ledger_writes) == 1


def _wait_for_span(exporter, name, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [span for span in exporter.get_finished_spans() if span.name == name]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no span {name!r} within {timeout}s: {[s.name for s in exporter.get_finished_spans()]}")


async def test_a_request_over_asgi_continues_the_callers_trace_from_its_traceparent_header(spans):
    from django.test import AsyncClient

    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"

    await AsyncClient().get("/api/v1/me", headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"})

    view = _server_span(spans, "GET", "/api/v1/me")
    assert format(view.context.trace_id, "032x") == caller_trace
    assert format(view.parent.span_id, "016x") == caller_span


def test_without_an_otlp_endpoint_nothing_is_instrumented_and_our_spans_are_no_ops(settings):
    from nebengjek import tracing

    settings.OTEL_EXPORTER_OTLP_ENDPOINT = ""

    assert tracing.configure() is False
    assert not tracing.enabled() and tracing.span("x") is tracing.span("y")
    assert tracing.current_traceparent() == ""


def test_the_sampler_starts_no_trace_at_a_client_call_and_keeps_hot_paths_and_beat_tasks_at_the_hot_rate():
    from opentelemetry.sdk.trace.sampling import Decision

    from nebengjek import tracing

    sampler = tracing.sampler(1.0, 0.0)
    trace_id = 0x4BF92F3577B34DA6A3CE929D0E0E4736

    def decision(kind, attributes=None):
        return sampler.should_sample(None, trace_id, "s", kind, attributes).decision

    assert decision(SpanKind.CLIENT) == Decision.DROP
    assert decision(SpanKind.CONSUMER) == decision(SpanKind.PRODUCER) == Decision.DROP  # beat's tasks: hot rate
    assert decision(SpanKind.SERVER, {"http.url": "http://x/api/v1/rides/requests"}) == Decision.RECORD_AND_SAMPLE
    assert decision(SpanKind.SERVER, {"http.url": "http://x/api/v1/drivers/nearby?lat=1"}) == Decision.DROP
    assert decision(SpanKind.SERVER, {tracing.HOT_ATTRIBUTE: True}) == Decision.RECORD_AND_SAMPLE
