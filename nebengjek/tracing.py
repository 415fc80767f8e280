"""OpenTelemetry tracing: the maintained instrumentations (Django, Celery, redis, psycopg, httpx) and our own spans.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (or a test hands `configure` a provider): then nothing is
instrumented and `span()` is a shared no-op context. On, the root sampler keeps TRACING_SAMPLE_RATIO of the traces
and TRACING_HOT_SAMPLE_RATIO of the hot paths (location ingest, nearby, the flusher's batches); a child follows its
parent's decision (the W3C `traceparent` of an incoming request, a Celery message, a stored event).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
from collections.abc import Iterator
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanKind

logger = logging.getLogger(__name__)

HOT_ATTRIBUTE = "nebengjek.hot"
# URL paths of the hot REST endpoints: their server spans are sampled at the hot rate.
HOT_PATHS = ("/api/v1/drivers/nearby", "/api/v1/locations")

_NOOP = contextlib.nullcontext()


class _State:
    def __init__(self) -> None:
        self.tracer: trace.Tracer | None = None
        self.provider: TracerProvider | None = None
        self.hot_ratio = 0.0
        self.instrumentors: list = []


_state = _State()


def enabled() -> bool:
    return _state.tracer is not None


# --- sampling ----------------------------------------------------------------------------------------------


class RootSampler(Sampler):
    """The decision for a trace's first span: a client call (Redis, SQL, HTTP) outside any traced work starts no
    trace; hot paths (HOT_ATTRIBUTE, decided by the caller; the hot URLs) and Celery publishes and runs that no traced
    work caused (beat's periodic tasks) are kept at `hot_ratio`, the rest at `ratio`."""

    def __init__(self, ratio: float, hot_ratio: float):
        self._ratio = TraceIdRatioBased(ratio)
        self._hot = TraceIdRatioBased(hot_ratio)

    def should_sample(
        self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None
    ) -> SamplingResult:
        if kind == SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        if kind in (SpanKind.PRODUCER, SpanKind.CONSUMER):  # a task nobody traced asked for: beat's periodic work
            return self._hot.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        if attributes:
            if attributes.get(HOT_ATTRIBUTE):
                return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
            path = attributes.get("url.path") or attributes.get("http.target") or attributes.get("http.url") or ""
            if isinstance(path, str) and any(hot in path for hot in HOT_PATHS):
                return self._hot.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        return self._ratio.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"NebengjekRootSampler{{{self._ratio.rate},{self._hot.rate}}}"


def sampler_ratio() -> float:
    """TRACING_SAMPLE_RATIO (env OTEL_TRACES_SAMPLER_RATIO), else the standard OTEL_TRACES_SAMPLER (`always_off`: 0;
    a ratio sampler: its OTEL_TRACES_SAMPLER_ARG), else 1."""
    from django.conf import settings

    if settings.TRACING_SAMPLE_RATIO is not None:
        return settings.TRACING_SAMPLE_RATIO
    standard = os.environ.get("OTEL_TRACES_SAMPLER", "")
    if standard in ("always_off", "parentbased_always_off"):
        return 0.0
    if standard in ("traceidratio", "parentbased_traceidratio"):
        try:
            return float(os.environ.get("OTEL_TRACES_SAMPLER_ARG", "1"))
        except ValueError:
            logger.warning("OTEL_TRACES_SAMPLER_ARG is not a number; sampling every trace")
    return 1.0


def sampler(ratio: float, hot_ratio: float) -> Sampler:
    return ParentBased(root=RootSampler(ratio, hot_ratio))


# --- set-up --------------------------------------------------------------------------------------------------


def _instrumentors() -> list:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    return [
        DjangoInstrumentor(),
        CeleryInstrumentor(),
        RedisInstrumentor(),
        PsycopgInstrumentor(),
        HTTPXClientInstrumentor(),
    ]


def configure(provider: TracerProvider | None = None, *, hot_ratio: float | None = None) -> bool:
    """Instrument this process. Without `provider`, only when OTEL_EXPORTER_OTLP_ENDPOINT is set: a provider with
    the settings' sampler exporting over OTLP/HTTP in batches. Returns whether tracing is on."""
    from django.conf import settings

    if _state.tracer is not None:
        return True
    if provider is None:
        if not settings.OTEL_EXPORTER_OTLP_ENDPOINT:
            return False
        provider = _otlp_provider(settings)
        trace.set_tracer_provider(provider)
    _state.provider = provider
    _state.hot_ratio = settings.TRACING_HOT_SAMPLE_RATIO if hot_ratio is None else hot_ratio
    _state.instrumentors = _instrumentors()
    for instrumentor in _state.instrumentors:
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=provider)
    _state.tracer = provider.get_tracer("nebengjek")
    return True


def _otlp_provider(settings) -> TracerProvider:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": settings.OTEL_SERVICE_NAME})
    provider = TracerProvider(resource=resource, sampler=sampler(sampler_ratio(), settings.TRACING_HOT_SAMPLE_RATIO))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def unconfigure() -> None:
    """Undo `configure` (tests): the instrumentations removed, our spans no-ops again."""
    for instrumentor in _state.instrumentors:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
    _state.instrumentors = []
    _state.tracer = None
    _state.provider = None


# --- our spans -------------------------------------------------------------------------------------------------


def span(
    name: str, attributes: dict[str, Any] | None = None, kind: SpanKind = SpanKind.INTERNAL
) -> contextlib.AbstractContextManager:
    """A span around a piece of our work, a child of the current one (a no-op while tracing is off)."""
    tracer = _state.tracer
    if tracer is None:
        return _NOOP
    return tracer.start_as_current_span(name, attributes=attributes, kind=kind)


def hot_span(name: str, attributes: dict[str, Any] | None = None) -> contextlib.AbstractContextManager:
    """A span on a hot path: started (as a new trace, sampled) for TRACING_HOT_SAMPLE_RATIO of the calls only, and
    decided before anything is built, so the others cost one random draw."""
    tracer = _state.tracer
    if tracer is None or random.random() >= _state.hot_ratio:
        return _NOOP
    return tracer.start_as_current_span(
        name, attributes={HOT_ATTRIBUTE: True, **(attributes or {})}, kind=SpanKind.SERVER
    )


def socket_message_span(message_type: str, user_id: str | None) -> contextlib.AbstractContextManager:
    """The span of one socket message: `ws.message <type>`; location updates at the hot rate."""
    if _state.tracer is None:
        return _NOOP
    attributes = {"ws.message.type": message_type, "enduser.id": str(user_id or "")}
    if message_type == "location":
        return hot_span("ws.message location", attributes)
    return _state.tracer.start_as_current_span(
        f"ws.message {message_type}", attributes=attributes, kind=SpanKind.SERVER
    )


def current_traceparent() -> str:
    """The W3C traceparent of the current span when it is sampled ('' otherwise): stored with an event so that its
    push joins the trace of the request that caused it."""
    if _state.tracer is None:
        return ""
    if not trace.get_current_span().get_span_context().trace_flags.sampled:
        return ""
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent", "")


@contextlib.contextmanager
def linked_span(
    name: str, traceparent: str, attributes: dict[str, Any] | None = None, kind: SpanKind = SpanKind.CONSUMER
) -> Iterator[None]:
    """A span continuing the trace of `traceparent` (a stored event's, a message's); nothing when there is none."""
    tracer = _state.tracer
    if tracer is None or not traceparent:
        yield
        return
    token = otel_context.attach(extract({"traceparent": traceparent}))
    try:
        with tracer.start_as_current_span(name, attributes=attributes, kind=kind):
            yield
    finally:
        otel_context.detach(token)


def push_delivered(event_type: str, traceparent: str, user_id: str | None, seq: int | None) -> None:
    """A short span for a stored event reaching its recipient's socket: `ws.push <type>`, in the trace of the
    request that caused it (the event's traceparent; none, nothing)."""
    if _state.tracer is None or not traceparent:
        return
    with linked_span(f"ws.push {event_type}", traceparent, {"enduser.id": str(user_id or ""), "event.seq": seq or 0}):
        pass


def log_ids() -> tuple[str, str]:
    """(trace_id, span_id) of the current span as hex, or ('', '') outside a sampled span."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return "", ""
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")
