"""Prometheus metrics of tigerseal (``pip install "tigerseal[prometheus]"``).

::

    from prometheus_client import start_http_server
    from tigerseal.metrics import prometheus

    prometheus.install()        # the default registry; or install(registry=my_registry)
    start_http_server(9100)

Metrics (``namespace`` default ``tigerseal``):

==========================================  ====================================  ===========
name                                        labels                                type
==========================================  ====================================  ===========
``tigerseal_provider_calls_total``          provider, operation, outcome          counter
``tigerseal_provider_call_seconds``         provider, operation                   histogram
``tigerseal_datakey_cache_lookups_total``   kind (encrypt/decrypt), result        counter
``tigerseal_decrypt_failures_total``                                              counter
``tigerseal_rate_limit_decisions_total``    algorithm, decision (allowed/denied)  counter
``tigerseal_audit_events_total``            event_type, risk_level                counter
==========================================  ====================================  ===========

``outcome`` is ``ok`` or the exception class name (``ProviderUnavailable``, ``AccessDenied``...),
never a message: labels stay few and hold no key ids or user input.
"""

from __future__ import annotations

import bisect
import math
import threading
from typing import Any

from tigerseal import observe
from tigerseal.errors import MissingDependencyError

__all__ = ["PrometheusObserver", "install", "uninstall"]


#: Seconds: local providers answer in microseconds, KMS/Vault in milliseconds.
BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _client() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise MissingDependencyError(
            'Prometheus metrics need prometheus-client: pip install "tigerseal[prometheus]"'
        ) from None
    return prometheus_client


class PrometheusObserver(observe.Observer):
    """Counts tigerseal's events and exposes them to Prometheus as a custom collector.

    Events update plain counters under one lock (a fraction of a microsecond); the metric
    families are built only when Prometheus scrapes. prometheus_client's own ``Counter`` and
    ``Histogram`` objects validate and lock per update, which costs more than the
    encryption of a small value.
    """

    def __init__(self, registry: Any = None, *, namespace: str = "tigerseal") -> None:
        pc = _client()
        self.registry = pc.REGISTRY if registry is None else registry
        self.namespace = namespace
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, str, str], int] = {}
        self._latency: dict[tuple[str, str], list[float]] = {}  # per bucket, +Inf, then sum
        self._lookups: dict[tuple[str, str], int] = {}
        self._decrypt_failures = 0
        self._decisions: dict[tuple[str, str], int] = {}
        self._events: dict[tuple[str, str], int] = {}
        self.registry.register(self)

    # -- observer --------------------------------------------------------------------------------
    def provider_call(
        self, provider: str, operation: str, seconds: float, error: str | None
    ) -> None:
        key = (provider, operation, error or "ok")
        slot = bisect.bisect_left(BUCKETS, seconds)
        with self._lock:
            self._calls[key] = self._calls.get(key, 0) + 1
            hist = self._latency.get(key[:2])
            if hist is None:
                hist = self._latency[key[:2]] = [0.0] * (len(BUCKETS) + 2)
            hist[slot] += 1
            hist[-1] += seconds

    def cache_lookup(self, kind: str, hit: bool) -> None:
        key = (kind, "hit" if hit else "miss")
        with self._lock:
            self._lookups[key] = self._lookups.get(key, 0) + 1

    def decrypt_failure(self) -> None:
        with self._lock:
            self._decrypt_failures += 1

    def rate_limit_decision(self, algorithm: str, allowed: bool) -> None:
        key = (algorithm, "allowed" if allowed else "denied")
        with self._lock:
            self._decisions[key] = self._decisions.get(key, 0) + 1

    def audit_event(self, event_type: str, risk_level: str) -> None:
        key = (event_type, risk_level)
        with self._lock:
            self._events[key] = self._events.get(key, 0) + 1

    # -- collector -------------------------------------------------------------------------------
    def describe(self) -> list[Any]:
        """The metric families (no samples): lets the registry refuse duplicate names."""
        return self._families(empty=True)

    def collect(self) -> list[Any]:
        """The metric families with their current values (called on each scrape)."""
        return self._families(empty=False)

    def _families(self, *, empty: bool) -> list[Any]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        ns = self.namespace
        with self._lock:
            calls = {} if empty else dict(self._calls)
            latency = {} if empty else {k: list(v) for k, v in self._latency.items()}
            lookups = {} if empty else dict(self._lookups)
            failures = self._decrypt_failures
            decisions = {} if empty else dict(self._decisions)
            events = {} if empty else dict(self._events)

        def counter(name: str, doc: str, labels: list[str], values: dict[Any, int]) -> Any:
            family = CounterMetricFamily(f"{ns}_{name}", doc, labels=labels)
            for key, value in values.items():
                family.add_metric(list(key), value)
            return family

        hist = HistogramMetricFamily(
            f"{ns}_provider_call_seconds",
            "Key-provider call latency",
            labels=["provider", "operation"],
        )
        for key, counts in latency.items():
            running, buckets = 0.0, []
            for bound, count in zip((*BUCKETS, math.inf), counts, strict=False):
                running += count
                buckets.append(("+Inf" if math.isinf(bound) else repr(bound), running))
            hist.add_metric(list(key), buckets, sum_value=counts[-1])
        failed = CounterMetricFamily(f"{ns}_decrypt_failures", "Messages that failed to decrypt")
        if not empty:
            failed.add_metric([], failures)
        return [
            counter(
                "provider_calls", "Key-provider calls", ["provider", "operation", "outcome"], calls
            ),
            hist,
            counter("datakey_cache_lookups", "Data-key cache lookups", ["kind", "result"], lookups),
            failed,
            counter(
                "rate_limit_decisions", "Rate-limit decisions", ["algorithm", "decision"], decisions
            ),
            counter("audit_events", "Audit records written", ["event_type", "risk_level"], events),
        ]

    def __repr__(self) -> str:
        return f"PrometheusObserver(registry={self.registry!r})"


_installed: dict[int, PrometheusObserver] = {}


def install(registry: Any = None, *, namespace: str = "tigerseal") -> PrometheusObserver:
    """Register tigerseal's metrics in ``registry`` and start reporting to them.

    ``registry`` defaults to prometheus_client's global one. Installing twice into one
    registry returns the first observer.

    Raises:
        MissingDependencyError: prometheus-client is not installed.
    """
    pc = _client()
    target = pc.REGISTRY if registry is None else registry
    current = _installed.get(id(target))
    if current is not None and current.registry is target:
        return current
    obs = PrometheusObserver(target, namespace=namespace)
    _installed[id(target)] = obs
    observe.add_observer(obs)
    return obs


def uninstall(observer: PrometheusObserver) -> None:
    """Stop reporting to ``observer`` and remove its metrics from its registry."""
    observe.remove_observer(observer)
    _installed.pop(id(observer.registry), None)
    observer.registry.unregister(observer)
