"""The service's Prometheus metrics (prometheus-client), one registry per server.

Counters count this process's events; the queue gauges are read from the queue at
scrape time, so with a shared PostgreSQL queue every process reports the same depth.
"""

from __future__ import annotations

import time
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from strata.serve.store import QueueStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class WorkerEvents(Protocol):
    """What workers report; counted here, or sent from a worker process to the server's."""

    def on_failed(self) -> None:
        """A diagnosis attempt raised."""

    def on_diagnosed(self, verdict: str, seconds: float | None) -> None:
        """A report was stored (``seconds``: the diagnosis' duration, when it ran)."""

    def on_model_call(self) -> None:
        """A call to the language model."""


class ServeMetrics:
    """Every metric ``/metrics`` exposes."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.received = Counter("strata_webhook_received", "Webhook requests received.", registry=r)
        self.accepted = Counter(
            "strata_webhook_accepted", "Notifications durably queued (2xx).", registry=r
        )
        self.rejected = Counter(
            "strata_webhook_rejected", "Webhook requests refused, by reason.", ["reason"],
            registry=r,
        )  # fmt: skip
        self.deduplicated = Counter(
            "strata_webhook_deduplicated",
            "Notifications that updated an open incident instead of opening one.",
            registry=r,
        )
        self.diagnosed = Counter(
            "strata_diagnoses", "Diagnoses stored, by verdict.", ["verdict"], registry=r
        )
        self.failed = Counter(
            "strata_diagnosis_failures", "Diagnosis attempts that raised (retried or failed).",
            registry=r,
        )  # fmt: skip
        self.model_calls = Counter("strata_model_calls", "Calls to the language model.", registry=r)
        self.duration = Histogram(
            "strata_diagnosis_duration_seconds", "Wall-clock time of one diagnosis.",
            buckets=DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge("strata_queue_depth", "Jobs waiting for a worker.", registry=r)
        self.queue_age = Gauge(
            "strata_queue_oldest_age_seconds", "Age of the oldest waiting job (0: none).",
            registry=r,
        )  # fmt: skip
        self.in_flight = Gauge(
            "strata_queue_in_flight", "Jobs being diagnosed under a live lease.", registry=r
        )
        self.incidents = Gauge(
            "strata_incidents", "Incidents in the queue, by job status.", ["status"], registry=r
        )
        self.workers = Gauge("strata_workers", "Workers of this process.", registry=r)

    def on_failed(self) -> None:
        """A diagnosis attempt raised."""
        self.failed.inc()

    def on_diagnosed(self, verdict: str, seconds: float | None) -> None:
        """A report was stored."""
        self.diagnosed.labels(verdict).inc()
        if seconds is not None:
            self.duration.observe(seconds)

    def on_model_call(self) -> None:
        """A call to the language model."""
        self.model_calls.inc()

    def render(self, stats: QueueStats, *, now: float | None = None) -> bytes:
        """The text exposition, after reading the queue gauges from ``stats``."""
        now = time.time() if now is None else now
        self.queue_depth.set(stats.depth)
        self.queue_age.set(max(0.0, now - stats.oldest_queued_at) if stats.oldest_queued_at else 0)
        self.in_flight.set(stats.in_flight)
        for status in ("queued", "diagnosing", "diagnosed", "abstained", "failed"):
            self.incidents.labels(status).set(stats.by_status.get(status, 0))
        return generate_latest(self.registry)
