"""Prometheus and OpenTelemetry exports of tigerseal's events; nothing loaded when unused."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from tigerseal import observe
from tigerseal.envelope import CachePolicy, EncryptionService
from tigerseal.errors import DecryptionError, ProviderUnavailable
from tigerseal.ratelimit import MemoryRateLimitStorage, RateLimiter
from tigerseal.spi import AuditSink
from tigerseal.testing.fake import FakeKeyProvider

CTX = {"table": "t"}


class Sink(AuditSink):
    def __init__(self) -> None:
        self.records: list[Mapping[str, Any]] = []

    def write(self, record: Mapping[str, Any]) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    from tigerseal.audit import Auditor, set_auditor

    previous = set_auditor(Auditor([Sink()], notify=False))
    yield
    for o in observe.observers():
        observe.remove_observer(o)
    set_auditor(previous)


def exercise(provider: FakeKeyProvider) -> None:
    """Provider calls, cache hits/misses, a decrypt failure, rate-limit decisions, audit."""
    from tigerseal.audit import audit_security_event

    svc = EncryptionService(provider, cache=CachePolicy(max_age=60, max_messages=10))
    m1 = svc.encrypt(b"a", CTX)  # miss -> generate
    svc.encrypt(b"b", CTX)  # hit
    reader = EncryptionService(provider)  # no cache: one unwrap
    assert reader.decrypt(m1, CTX) == b"a"
    bad = bytearray(bytes(m1))
    bad[-1] ^= 1
    with pytest.raises(DecryptionError):
        reader.decrypt(bytes(bad), CTX)
    limiter = RateLimiter(
        MemoryRateLimitStorage(), algorithm="gcra", default_limit=10, audit_rejections=False
    )
    assert limiter.hit("k", 1, 60)
    assert not limiter.hit("k", 1, 60)
    audit_security_event("authn_login_fail", user_id="u", risk_level="medium")


def test_nothing_registered_means_nothing_imported() -> None:
    code = """
import os, secrets, sys
os.environ["TIGERSEAL_KEY_PROVIDERS"] = "env://ENCRYPTION_MASTER_KEY"
os.environ["ENCRYPTION_MASTER_KEY"] = secrets.token_hex(32)
os.environ["TIGERSEAL_AUDIT_SINKS"] = "logging://"
import tigerseal
svc = tigerseal.get_encryption_service()
m = svc.encrypt("x", {"a": "b"})
assert svc.decrypt_to_string(m, {"a": "b"}) == "x"
assert tigerseal.verify_rate_limit("k", 5, 60)
tigerseal.audit_security_event("authn_login_success", user_id="u")
from tigerseal import observe
assert not observe.on and observe.observers() == ()
loaded = sorted(n for n in sys.modules if n.split(".")[0] in ("prometheus_client", "opentelemetry")
                or n.startswith("tigerseal.metrics"))
print(loaded)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIGERSEAL_")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_prometheus_counts_every_event() -> None:
    from prometheus_client import CollectorRegistry
    from tigerseal.metrics import prometheus

    registry = CollectorRegistry()
    obs = prometheus.install(registry=registry)
    assert prometheus.install(registry=registry) is obs
    provider = FakeKeyProvider("metrics-prom")
    exercise(provider)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert (
        value("tigerseal_provider_calls_total", provider="fake", operation="generate", outcome="ok")
        == 1
    )
    assert (
        value("tigerseal_provider_calls_total", provider="fake", operation="unwrap", outcome="ok")
        == 2
    )
    assert value("tigerseal_provider_call_seconds_count", provider="fake", operation="unwrap") == 2
    assert value("tigerseal_datakey_cache_lookups_total", kind="encrypt", result="miss") == 1
    assert value("tigerseal_datakey_cache_lookups_total", kind="encrypt", result="hit") == 1
    assert value("tigerseal_decrypt_failures_total") == 1
    assert value("tigerseal_rate_limit_decisions_total", algorithm="gcra", decision="allowed") == 1
    assert value("tigerseal_rate_limit_decisions_total", algorithm="gcra", decision="denied") == 1
    assert (
        value("tigerseal_audit_events_total", event_type="authn_login_fail", risk_level="medium")
        == 1
    )

    # The histogram is well formed: cumulative buckets ending at +Inf == count.
    from prometheus_client import generate_latest

    text = generate_latest(registry).decode()
    buckets = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("tigerseal_provider_call_seconds_bucket")
        and 'operation="unwrap"' in line
    ]
    assert buckets == sorted(buckets)
    assert buckets[-1] == 2
    assert 'le="+Inf"' in text

    provider.fail_next(ProviderUnavailable("kms down"), operation="generate")
    with pytest.raises(ProviderUnavailable):
        EncryptionService(provider).encrypt(b"x", CTX)
    assert (
        value(
            "tigerseal_provider_calls_total",
            provider="fake",
            operation="generate",
            outcome="ProviderUnavailable",
        )
        == 1
    )
    prometheus.uninstall(obs)
    assert not observe.on
    assert value("tigerseal_decrypt_failures_total") is None


def test_otel_metrics_and_provider_spans() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import StatusCode
    from tigerseal.metrics import otel

    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    exporter = InMemorySpanExporter()
    tracers = TracerProvider()
    tracers.add_span_processor(SimpleSpanProcessor(exporter))
    obs = otel.install(meter_provider=meters, tracer_provider=tracers)
    provider = FakeKeyProvider("metrics-otel")
    with tracers.get_tracer("app").start_as_current_span("request") as parent:
        exercise(provider)
    provider.fail_next(ProviderUnavailable("down"), operation="unwrap")
    svc = EncryptionService(provider)
    m = svc.encrypt(b"z", CTX)
    with pytest.raises(ProviderUnavailable):
        EncryptionService(provider).decrypt(m, CTX)
    otel.uninstall(obs)

    spans = {s.name: s for s in exporter.get_finished_spans()}
    gen = [s for s in exporter.get_finished_spans() if s.name == "tigerseal.provider.generate"]
    assert gen[0].parent is not None
    assert gen[0].parent.span_id == parent.get_span_context().span_id
    assert gen[0].attributes["tigerseal.provider"] == "fake"
    assert gen[0].end_time >= gen[0].start_time
    failed = [s for s in exporter.get_finished_spans() if s.status.status_code == StatusCode.ERROR]
    assert [s.name for s in failed] == ["tigerseal.provider.unwrap"]
    assert failed[0].attributes["error.type"] == "ProviderUnavailable"
    assert "tigerseal.provider.unwrap" in spans

    points: dict[str, list[Any]] = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                points[metric.name] = list(metric.data.data_points)

    def total(name: str, **attrs: str) -> float:
        return sum(
            p.value for p in points[name] if all(p.attributes.get(k) == v for k, v in attrs.items())
        )

    assert total("tigerseal.provider.calls", operation="generate", outcome="ok") == 2
    assert total("tigerseal.provider.calls", operation="unwrap", outcome="ProviderUnavailable") == 1
    assert total("tigerseal.datakey_cache.lookups", result="hit") == 1
    assert total("tigerseal.decrypt.failures") == 1
    assert total("tigerseal.rate_limit.decisions", decision="denied") == 1
    assert total("tigerseal.audit.events", event_type="authn_login_fail") == 1
    assert sum(p.count for p in points["tigerseal.provider.duration"]) >= 4


def test_a_failing_observer_never_breaks_encryption(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(observe.Observer):
        def provider_call(self, *args: Any) -> None:
            raise RuntimeError("exporter bug")

    observe.add_observer(Broken())
    svc = EncryptionService(FakeKeyProvider("metrics-broken"))
    assert svc.decrypt(svc.encrypt(b"ok", CTX), CTX) == b"ok"
    assert "observer" in caplog.text


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_async_limiter_reports_decisions(anyio_backend: str) -> None:
    from tigerseal import aio

    seen: list[tuple[str, bool]] = []

    class Recorder(observe.Observer):
        def rate_limit_decision(self, algorithm: str, allowed: bool) -> None:
            seen.append((algorithm, allowed))

    observe.add_observer(Recorder())
    alim = aio.AsyncRateLimiter(
        RateLimiter(
            MemoryRateLimitStorage(),
            algorithm="sliding_window_log",
            default_limit=5,
            audit_rejections=False,
        )
    )
    assert await alim.hit("a", 1, 60)
    assert not await alim.hit("a", 1, 60)
    assert seen == [("sliding_window_log", True), ("sliding_window_log", False)]


def test_rewrap_batches_are_reported() -> None:
    calls: list[tuple[str, str]] = []

    class Recorder(observe.Observer):
        def provider_call(
            self, provider: str, operation: str, seconds: float, error: str | None
        ) -> None:
            calls.append((operation, error or "ok"))

    old = FakeKeyProvider("metrics-rewrap")
    m = EncryptionService(old).encrypt(b"x", CTX)
    old.rotate()
    observe.add_observer(Recorder())
    svc = EncryptionService(FakeKeyProvider("metrics-rewrap"))
    assert svc.needs_rewrap(m)
    svc.rewrap_many([m])
    assert calls == [("rewrap_many", "ok")]
