"""The UI's state of each incident and of each specialist working on it.

Plain mutable dataclasses owned by the App (only the UI's event loop touches them), fed by
the coordinator's ``progress(who, message)`` events (:func:`parse_event`) and by the final
Diagnosis. Nothing here does I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from agents.models import Diagnosis
from tools.alertmanager.webhook import WebhookPayload
from tui.evidence import EvidenceDetail

SPECIALIST_ORDER = ("network", "compute", "storage", "dns", "control-plane", "application")
"""The coordinator's specialists, in report order."""

Status = Literal["queued", "diagnosing", "diagnosed", "abstained", "failed", "resolved"]
Origin = Literal["scenario", "server", "live"]

_PROBE = re.compile(r"^probe (\S+) \[(\w+)\] (.*)$", re.DOTALL)
_FINDING = re.compile(r"^finding ([0-9.]+) (.*)$", re.DOTALL)
_DONE = re.compile(r"^(\d+) findings?, (\d+) hypothes[ei]s$")


@dataclass(frozen=True)
class ProgressEvent:
    """One parsed ``progress(who, message)`` call."""

    who: str
    kind: Literal["start", "probe", "finding", "done", "note"]
    text: str
    source: str = ""
    """For probes: metrics, logs, snmp, ssh."""
    status: str = ""
    """For probes: ok, empty, error, unavailable."""
    strength: float | None = None
    """For findings: 0..1."""
    findings: int = 0
    hypotheses: int = 0


def parse_event(who: str, message: str) -> ProgressEvent:
    """Classify a coordinator progress message (see agents.coordinator.ProgressFn)."""
    if message == "investigating":
        return ProgressEvent(who, "start", message)
    if m := _PROBE.match(message):
        return ProgressEvent(who, "probe", m.group(3), source=m.group(1), status=m.group(2))
    if m := _FINDING.match(message):
        try:
            strength = float(m.group(1))
        except ValueError:
            strength = None
        return ProgressEvent(who, "finding", m.group(2), strength=strength)
    if m := _DONE.match(message):
        return ProgressEvent(
            who, "done", message, findings=int(m.group(1)), hypotheses=int(m.group(2))
        )
    return ProgressEvent(who, "note", message)


@dataclass
class SpecialistState:
    """What one specialist has done so far in this investigation."""

    name: str
    status: Literal["waiting", "investigating", "done"] = "waiting"
    events: list[ProgressEvent] = field(default_factory=list)
    findings: int = 0
    hypotheses: int = 0

    def apply(self, event: ProgressEvent) -> None:
        """Fold one event in."""
        if event.kind == "start":
            self.status = "investigating"
            return
        if event.kind == "done":
            self.status = "done"
            self.findings, self.hypotheses = event.findings, event.hypotheses
            return
        if self.status == "waiting":
            self.status = "investigating"
        self.events.append(event)


@dataclass
class RemediationMark:
    """An operator's mark on a suggested action. Strata itself executes nothing."""

    index: int
    state: Literal["done", "approved"]
    at: datetime


@dataclass
class IncidentEntry:
    """One incident as the UI knows it."""

    key: str
    """Stable id: the scenario id, the server's incident id or the alert group's key."""
    alertname: str
    severity: str | None
    since: datetime | None
    """When the lead alert started firing."""
    origin: Origin
    status: Status = "queued"
    alert: WebhookPayload | None = None
    scenario_path: Path | None = None
    window_start: datetime | None = None
    """Start of the investigated window, when known."""
    diagnosis: Diagnosis | None = None
    root_cause: str | None = None
    """``layer/fault/component`` when known without a Diagnosis (server summaries)."""
    confidence: float | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    """What the sources said (opening, missing sources)."""
    specialists: dict[str, SpecialistState] = field(default_factory=dict)
    details: dict[str, EvidenceDetail] = field(default_factory=dict)
    marks: dict[int, RemediationMark] = field(default_factory=dict)
    feedback: str | None = None
    """One line about the operator's feedback, when given."""
    finished: int = 0
    """How many investigations of it have ended (successfully or not)."""

    def reset_investigation(self) -> None:
        """Forget a previous run before a new one starts."""
        self.diagnosis = None
        self.error = None
        self.notes = []
        self.details = {}
        self.specialists = {name: SpecialistState(name) for name in SPECIALIST_ORDER}

    def specialist(self, name: str) -> SpecialistState:
        """The state of ``name``, created on first use (a specialist this UI did not list)."""
        if name not in self.specialists:
            self.specialists[name] = SpecialistState(name)
        return self.specialists[name]

    def apply(self, who: str, message: str) -> ProgressEvent:
        """Fold one progress message in; returns it parsed."""
        event = parse_event(who, message)
        if who in ("sources", "model", "record"):
            self.notes.append(f"{who}: {message}")
        else:
            self.specialist(who).apply(event)
        return event

    def finish(self, diagnosis: Diagnosis, details: dict[str, EvidenceDetail]) -> None:
        """The investigation is over: keep the Diagnosis, settle every panel."""
        self.diagnosis = diagnosis
        self.details = details
        self.status = diagnosis.verdict
        self.error = diagnosis.error
        rc = diagnosis.root_cause
        self.root_cause = f"{rc.layer}/{rc.fault}/{rc.component}" if rc else None
        self.confidence = diagnosis.confidence if rc else None
        by_specialist: dict[str, int] = {}
        for f in diagnosis.findings:
            by_specialist[f.by] = by_specialist.get(f.by, 0) + 1
        for h in diagnosis.hypotheses:
            self.specialist(h.by)
        for name, count in by_specialist.items():
            self.specialist(name)
            st = self.specialists[name]
            if not any(e.kind == "finding" for e in st.events):
                # No live stream (a report from strata serve): show the findings themselves.
                for f in diagnosis.findings:
                    if f.by == name:
                        st.events.append(
                            ProgressEvent(name, "finding", f.summary, strength=f.strength)
                        )
            st.findings = count
        for st in self.specialists.values():
            st.hypotheses = sum(1 for h in diagnosis.hypotheses if h.by == st.name)
            st.status = "done"
