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
