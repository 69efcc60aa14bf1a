"""Metrics exporters as an operator meets them: installed twice, a broken exporter under load."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from tigerseal import observe
from tigerseal.envelope import EncryptionService
from tigerseal.testing.fake import FakeKeyProvider

CTX = {"table": "t"}


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    yield
    for o in observe.observers():
        observe.remove_observer(o)


def test_otel_installed_twice_counts_once() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from tigerseal.metrics import otel

    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    tracers = TracerProvider()
    first = otel.install(meter_provider=meters, tracer_provider=tracers)
    assert otel.install(meter_provider=meters, tracer_provider=tracers) is first
    svc = EncryptionService(FakeKeyProvider("otel-twice"))
    svc.encrypt(b"x", CTX)
    calls = [
        p.value
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "tigerseal.provider.calls"
        for p in m.data.data_points
    ]
    assert calls == [1]
    otel.uninstall(first)
    assert observe.observers() == ()


def test_a_broken_exporter_logs_once_not_per_operation(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(observe.Observer):
        def provider_call(self, *args: Any) -> None:
            raise RuntimeError("exporter bug")

    observe.add_observer(Broken())
    svc = EncryptionService(FakeKeyProvider("metrics-flood"))
    with caplog.at_level(logging.WARNING, logger="tigerseal.observe"):
        for _ in range(50):
            svc.encrypt(b"ok", CTX)
    failures = [r for r in caplog.records if r.name == "tigerseal.observe"]
    assert len(failures) == 1
    assert "further failures of this observer" in failures[0].getMessage()


class Recorder(observe.Observer):
    def __init__(self) -> None:
        self.events: list[str] = []

    def audit_event(self, event_type: str, risk_level: str) -> None:
        self.events.append(event_type)


def test_label_values_are_bounded_whatever_the_application_passes() -> None:
    """Event types are free-form names: an application that builds them from input (or a
    provider whose error classes vary) must not create one time series per value."""
    from prometheus_client import CollectorRegistry
    from tigerseal.metrics import prometheus

    registry = CollectorRegistry()
    prometheus.install(registry)
    for i in range(1000):
        observe.audit_event(f"custom_event_{i}", "low")
        observe.provider_call("fake", "wrap", 0.001, f"Error{i}")
    samples = {
        m.name: [s for s in m.samples if s.name.endswith("_total")] for m in registry.collect()
    }
    events = samples["tigerseal_audit_events"]
    assert len(events) <= observe.MAX_LABEL_VALUES + 1
    assert any(s.labels["event_type"] == "other" for s in events)
    assert sum(s.value for s in events) == 1000
    assert len(samples["tigerseal_provider_calls"]) <= observe.MAX_LABEL_VALUES + 1
    prometheus.uninstall(prometheus.install(registry))
    assert observe.observers() == ()
    observe.add_observer(seen := Recorder())
    observe.audit_event("custom_event_999", "low")  # the names are forgotten with the exporters
    assert seen.events == ["custom_event_999"]
