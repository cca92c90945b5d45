"""The durable queue of incidents: what every backend stores and decides.

One row per incident. The row is also the diagnosis job: ``status`` says where the job
is (``queued`` → ``diagnosing`` under a lease → ``diagnosed``/``abstained``/``failed``),
and ``resolved`` says whether Alertmanager has closed the group. The decisions (open,
update, reopen a flapping group, who goes first) live here once; the SQLite and
PostgreSQL backends only carry them out in one transaction each.

Nothing here talks HTTP or runs a diagnosis.
"""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from tools.alertmanager.webhook import WebhookPayload

DONE: frozenset[str] = frozenset({"diagnosed", "abstained", "failed"})
PRIORITY = {"critical": 0, "page": 0, "error": 1, "high": 1, "warning": 2, "info": 4, "none": 4}
DEFAULT_PRIORITY = 3
"""Severity to queue priority (lower goes first); unknown severities sit after warnings."""

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS incidents (
        id TEXT PRIMARY KEY,
        group_key TEXT NOT NULL,
        alertname TEXT NOT NULL,
        severity TEXT,
        priority INTEGER NOT NULL,
        status TEXT NOT NULL,
        resolved INTEGER NOT NULL DEFAULT 0,
        received_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        payload TEXT NOT NULL,
        notifications INTEGER NOT NULL DEFAULT 1,
        attempts INTEGER NOT NULL DEFAULT 0,
        available_at DOUBLE PRECISION NOT NULL,
        lease_owner TEXT,
        lease_until DOUBLE PRECISION,
        diagnosed_at DOUBLE PRECISION,
        diagnosis TEXT,
        report_markdown TEXT,
        root_cause TEXT,
        confidence DOUBLE PRECISION,
        error TEXT,
        notify_pending INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS incidents_group ON incidents (group_key, received_at)",
    "CREATE INDEX IF NOT EXISTS incidents_job ON incidents (status, priority, received_at)",
    "CREATE INDEX IF NOT EXISTS incidents_received ON incidents (received_at)",
    """CREATE TABLE IF NOT EXISTS notifications (
        seq INTEGER PRIMARY KEY,
        incident_id TEXT NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        status TEXT NOT NULL,
        body TEXT NOT NULL
    )""",
]
"""Tables common to both backends (PostgreSQL swaps the notification key for an identity)."""

SUMMARY_COLUMNS = (
    "id, group_key, alertname, severity, status, resolved, received_at, updated_at, "
    "root_cause, confidence"
)
DETAIL_COLUMNS = SUMMARY_COLUMNS + ", payload, diagnosis, report_markdown, error, notifications"


def iso(ts: float) -> str:
    """Epoch seconds as RFC 3339 UTC with milliseconds."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def severity_of(payload: WebhookPayload) -> str | None:
    """The group's ``severity`` label (common label, else the highest among its alerts)."""
    common = payload.common_labels.get("severity")
    if common:
        return common
    found = [a.labels["severity"] for a in payload.alerts if a.labels.get("severity")]
    return min(found, key=lambda s: PRIORITY.get(s.lower(), DEFAULT_PRIORITY)) if found else None


def priority_of(severity: str | None) -> int:
    """Queue priority of a severity: critical first."""
    if severity is None:
        return DEFAULT_PRIORITY
    return PRIORITY.get(severity.lower(), DEFAULT_PRIORITY)


@dataclass(frozen=True)
class Latest:
    """What intake needs to know of a group's newest incident."""

    id: str
    resolved: bool
    received_at: float


@dataclass(frozen=True)
class IntakeAction:
    """What one notification does to the queue."""

    kind: Literal["new", "update", "reopen"]
    incident_id: str
    resolved: bool

    @property
    def deduplicated(self) -> bool:
        """An existing incident absorbed it (no new diagnosis)."""
        return self.kind != "new"


def plan_intake(
    latest: Latest | None, payload: WebhookPayload, *, now: float, flap_interval_s: float
) -> IntakeAction:
    """Decide what a valid notification does.

    A group's first notification opens an incident; repeats and re-notifications update
    it; ``resolved`` closes it. A group that fires again after it resolved reopens the
    same incident (no new diagnosis) while the incident is younger than
    ``flap_interval_s``, and opens a new one after that: a flapping group is diagnosed
    at most once per interval.
    """
    resolved = payload.status == "resolved"
    if latest is None:
        return IntakeAction("new", uuid.uuid4().hex[:16], resolved)
    if not latest.resolved:
        return IntakeAction("update", latest.id, resolved)
    if resolved:
        return IntakeAction("update", latest.id, True)
    if now - latest.received_at < flap_interval_s:
        return IntakeAction("reopen", latest.id, False)
    return IntakeAction("new", uuid.uuid4().hex[:16], False)


@dataclass(frozen=True)
class Intake:
    """The outcome of storing one notification."""

    incident_id: str
    action: Literal["new", "update", "reopen"]
    status: str

    @property
    def deduplicated(self) -> bool:
        """An existing incident absorbed the notification."""
        return self.action != "new"


@dataclass(frozen=True)
class Job:
    """A claimed diagnosis job."""

    incident_id: str
    payload: dict[str, Any]
    attempts: int
    owner: str
    received_at: float


@dataclass(frozen=True)
class Completion:
    """A finished diagnosis, ready to store."""

    status: Literal["diagnosed", "abstained", "failed"]
    diagnosis_json: str
    report_markdown: str
    root_cause: str | None
    confidence: float | None
    error: str | None


@dataclass(frozen=True)
class QueueStats:
    """Queue depth, age and in-flight count, across every process sharing the queue."""

    by_status: dict[str, int] = field(default_factory=dict)
    oldest_queued_at: float | None = None
    in_flight: int = 0

    @property
    def depth(self) -> int:
        """Jobs waiting for a worker."""
        return self.by_status.get("queued", 0)


def api_status(status: str, resolved: bool) -> str:
    """The contract's status: a resolved group whose diagnosis is done reads ``resolved``."""
    return "resolved" if resolved and status in DONE else status


def summary(row: dict[str, Any]) -> dict[str, Any]:
    """An IncidentSummary (the HTTP API contract) from a row."""
    return {
        "id": row["id"],
        "group_key": row["group_key"],
        "alertname": row["alertname"],
        "severity": row["severity"],
        "status": api_status(row["status"], bool(row["resolved"])),
        "received_at": iso(row["received_at"]),
        "updated_at": iso(row["updated_at"]),
        "root_cause": row["root_cause"],
        "confidence": row["confidence"],
    }


def detail(row: dict[str, Any]) -> dict[str, Any]:
    """Summary fields plus the alerts, the Diagnosis JSON and the Markdown report."""
    out = summary(row)
    payload = json.loads(row["payload"])
    out["alerts"] = payload.get("alerts", [])
    out["diagnosis"] = json.loads(row["diagnosis"]) if row["diagnosis"] else None
    out["report_markdown"] = row["report_markdown"]
    out["error"] = row["error"]
    out["notifications"] = row["notifications"]
    return out


class StoreError(Exception):
    """The queue's database cannot be opened or used."""


class Store(ABC):
    """A durable incident queue. Every method is one transaction."""

    @abstractmethod
    async def open(self) -> None:
        """Connect and create the tables when missing."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections."""

    @abstractmethod
    async def intake(self, payload: WebhookPayload, body: str, *, now: float) -> Intake:
        """Store one valid notification durably and return what it did."""

    @abstractmethod
    async def claim(self, owner: str, *, now: float, lease_s: float) -> Job | None:
        """Lease the most urgent job: queued and due, or one whose lease expired."""

    @abstractmethod
    async def renew(self, incident_id: str, owner: str, *, until: float) -> bool:
        """Extend a lease; False when ``owner`` no longer holds it."""

    @abstractmethod
    async def release(
        self,
        incident_id: str,
        owner: str,
        *,
        available_at: float,
        error: str | None,
        now: float,
        refund: bool = False,
    ) -> bool:
        """Put a leased job back in the queue: a retry later, or at shutdown (``refund``:
        the attempt does not count, the job did nothing wrong)."""

    @abstractmethod
    async def complete(
        self, incident_id: str, owner: str, result: Completion, *, now: float, notify: bool = False
    ) -> bool:
        """Store the report (``notify``: its notification is owed until
        :meth:`notified`); False when ``owner`` lost the lease meanwhile."""

    @abstractmethod
    async def notified(self, incident_id: str) -> None:
        """The report's notification has been sent (or given up on)."""

    @abstractmethod
    async def owed_notifications(self, *, before: float, limit: int = 1000) -> list[str]:
        """Incidents whose notification is owed, stored before ``before``."""

    @abstractmethod
    async def list(self, *, limit: int, status: str | None = None) -> list[dict[str, Any]]:
        """Incident rows (summary columns), newest first."""

    @abstractmethod
    async def get(self, incident_id: str) -> dict[str, Any] | None:
        """One incident row (detail columns), or None."""

    @abstractmethod
    async def stats(self, *, now: float) -> QueueStats:
        """Counts by status, the oldest queued job, jobs under a live lease."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise :class:`StoreError` when the database does not answer."""


def open_store(url: str, *, flap_interval_s: float = 3600.0) -> Store:
    """A store for ``url``: ``postgresql://...`` or a SQLite file path (``sqlite:///P`` too).

    Raises:
        StoreError: an unknown scheme.
    """
    if url.startswith(("postgresql://", "postgres://")):
        from strata.serve.pg_store import PostgresStore

        return PostgresStore(url, flap_interval_s=flap_interval_s)
    if url.startswith("sqlite:///"):
        url = url[len("sqlite:///") - 1 :]
    elif "://" in url:
        raise StoreError(
            f"unknown queue database {url.split('://')[0]!r}; use a path or postgresql://"
        )
    from strata.serve.sqlite_store import SqliteStore

    return SqliteStore(url, flap_interval_s=flap_interval_s)
