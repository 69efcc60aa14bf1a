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
    """Turns tigerseal's events into Prometheus metrics in ``registry``."""

    def __init__(self, registry: Any = None, *, namespace: str = "tigerseal") -> None:
        pc = _client()
        if registry is None:
            registry = pc.REGISTRY
        self.registry = registry
        kw: dict[str, Any] = {"namespace": namespace, "registry": registry}
        self.provider_calls = pc.Counter(
            "provider_calls", "Key-provider calls", ["provider", "operation", "outcome"], **kw
        )
        self.provider_seconds = pc.Histogram(
            "provider_call_seconds",
            "Key-provider call latency",
            ["provider", "operation"],
            buckets=BUCKETS,
            **kw,
        )
        self.cache_lookups = pc.Counter(
            "datakey_cache_lookups", "Data-key cache lookups", ["kind", "result"], **kw
        )
        self.decrypt_failures = pc.Counter(
            "decrypt_failures", "Messages that failed to decrypt", **kw
        )
        self.rate_limit = pc.Counter(
            "rate_limit_decisions", "Rate-limit decisions", ["algorithm", "decision"], **kw
        )
        self.audit_events = pc.Counter(
            "audit_events", "Audit records written", ["event_type", "risk_level"], **kw
        )

    def provider_call(
        self, provider: str, operation: str, seconds: float, error: str | None
    ) -> None:
        self.provider_calls.labels(provider, operation, error or "ok").inc()
        self.provider_seconds.labels(provider, operation).observe(seconds)

    def cache_lookup(self, kind: str, hit: bool) -> None:
        self.cache_lookups.labels(kind, "hit" if hit else "miss").inc()

    def decrypt_failure(self) -> None:
        self.decrypt_failures.inc()

    def rate_limit_decision(self, algorithm: str, allowed: bool) -> None:
        self.rate_limit.labels(algorithm, "allowed" if allowed else "denied").inc()

    def audit_event(self, event_type: str, risk_level: str) -> None:
        self.audit_events.labels(event_type, risk_level).inc()

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
    for metric in (
        observer.provider_calls,
        observer.provider_seconds,
        observer.cache_lookups,
        observer.decrypt_failures,
        observer.rate_limit,
        observer.audit_events,
    ):
        observer.registry.unregister(metric)
