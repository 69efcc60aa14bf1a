"""OpenTelemetry metrics and spans of tigerseal (``pip install "tigerseal[otel]"``).

::

    from tigerseal.metrics import otel

    otel.install()  # the global MeterProvider/TracerProvider; or pass your own

Instruments (meter ``tigerseal``): counters ``tigerseal.provider.calls`` (attributes
``provider``, ``operation``, ``outcome``), ``tigerseal.datakey_cache.lookups`` (``kind``,
``result``), ``tigerseal.decrypt.failures``, ``tigerseal.rate_limit.decisions``
(``algorithm``, ``decision``), ``tigerseal.audit.events`` (``event_type``, ``risk_level``) and
the histogram ``tigerseal.provider.duration`` (seconds). Each key-provider call is also a span
``tigerseal.provider.<operation>`` (kind CLIENT, attributes ``tigerseal.provider``,
``tigerseal.operation``; status ERROR with ``error.type`` on failure), a child of the span
current when tigerseal was called.

Only the OpenTelemetry *API* is needed here; the SDK (exporters, readers) is the
application's choice.
"""

from __future__ import annotations

import time
from typing import Any

from tigerseal import observe
from tigerseal.errors import MissingDependencyError

__all__ = ["OTelObserver", "install", "uninstall"]


def _api() -> tuple[Any, Any]:
    try:
        from opentelemetry import metrics, trace
    except ImportError:
        raise MissingDependencyError(
            'OpenTelemetry export needs opentelemetry-api: pip install "tigerseal[otel]"'
        ) from None
    return metrics, trace


class OTelObserver(observe.Observer):
    """Turns tigerseal's events into OpenTelemetry metrics and provider-call spans."""

    def __init__(self, meter_provider: Any = None, tracer_provider: Any = None) -> None:
        metrics, trace = _api()
        from tigerseal import __version__

        self.meter_provider = meter_provider or metrics.get_meter_provider()
        self.tracer_provider = tracer_provider or trace.get_tracer_provider()
        meter = self.meter_provider.get_meter("tigerseal", __version__)
        self.tracer = self.tracer_provider.get_tracer("tigerseal", __version__)
        self._trace = trace
        self.provider_calls = meter.create_counter(
            "tigerseal.provider.calls", unit="{call}", description="Key-provider calls"
        )
        self.provider_duration = meter.create_histogram(
            "tigerseal.provider.duration", unit="s", description="Key-provider call latency"
        )
        self.cache_lookups = meter.create_counter(
            "tigerseal.datakey_cache.lookups", unit="{lookup}", description="Data-key cache lookups"
        )
        self.decrypt_failures = meter.create_counter(
            "tigerseal.decrypt.failures", unit="{message}", description="Failed decryptions"
        )
        self.rate_limit = meter.create_counter(
            "tigerseal.rate_limit.decisions", unit="{decision}", description="Rate-limit decisions"
        )
        self.audit_events = meter.create_counter(
            "tigerseal.audit.events", unit="{event}", description="Audit records written"
        )

    def provider_call(
        self, provider: str, operation: str, seconds: float, error: str | None
    ) -> None:
        attrs = {"provider": provider, "operation": operation, "outcome": error or "ok"}
        self.provider_calls.add(1, attrs)
        self.provider_duration.record(seconds, {"provider": provider, "operation": operation})
        # The call is over: record its span after the fact with its real start and end.
        end = time.time_ns()
        span = self.tracer.start_span(
            f"tigerseal.provider.{operation}",
            kind=self._trace.SpanKind.CLIENT,
            start_time=end - int(seconds * 1e9),
            attributes={"tigerseal.provider": provider, "tigerseal.operation": operation},
        )
        if error is not None:
            span.set_attribute("error.type", error)
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, error))
        span.end(end_time=end)

    def cache_lookup(self, kind: str, hit: bool) -> None:
        self.cache_lookups.add(1, {"kind": kind, "result": "hit" if hit else "miss"})

    def decrypt_failure(self) -> None:
        self.decrypt_failures.add(1)

    def rate_limit_decision(self, algorithm: str, allowed: bool) -> None:
        self.rate_limit.add(
            1, {"algorithm": algorithm, "decision": "allowed" if allowed else "denied"}
        )

    def audit_event(self, event_type: str, risk_level: str) -> None:
        self.audit_events.add(1, {"event_type": event_type, "risk_level": risk_level})


def install(meter_provider: Any = None, tracer_provider: Any = None) -> OTelObserver:
    """Start exporting tigerseal's metrics and spans (default: the global providers).

    Installing twice with the same providers returns the first observer (each event is
    counted once).

    Raises:
        MissingDependencyError: opentelemetry-api is not installed.
    """
    metrics, trace = _api()
    meters = meter_provider or metrics.get_meter_provider()
    tracers = tracer_provider or trace.get_tracer_provider()
    for current in observe.observers():
        if (
            isinstance(current, OTelObserver)
            and current.meter_provider is meters
            and current.tracer_provider is tracers
        ):
            return current
    obs = OTelObserver(meters, tracers)
    observe.add_observer(obs)
    return obs


def uninstall(observer: OTelObserver) -> None:
    """Stop exporting to ``observer`` (its instruments stay with their meter)."""
    observe.remove_observer(observer)
