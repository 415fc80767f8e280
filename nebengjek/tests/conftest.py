"""Fixtures of the cross-cutting tests."""

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from nebengjek import tracing


@pytest.fixture
def spans():
    """Tracing on for this test, every trace sampled, the finished spans kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=tracing.sampler(1.0, 1.0))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.configure(provider, hot_ratio=0.0)
    yield exporter
    tracing.unconfigure()
    provider.shutdown()
