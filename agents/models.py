"""The diagnosis data model: Incident in, Evidence → Finding → Hypothesis → Diagnosis out.

Frozen pydantic models. ``Diagnosis.to_json()`` is the Diagnosis JSON of scenario format v1
(docs/scenario-format.md); fields beyond that document are additive.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.alertmanager.webhook import WebhookPayload
from tools.topology import Topology
from tools.vocabulary import check as check_vocabulary

SCHEMA_VERSION = 1

Role = Literal["root_cause", "symptom", "ruled_out", "contributing"]
Verdict = Literal["diagnosed", "abstained", "failed"]
SourceName = Literal["metrics", "logs", "snmp", "ssh", "alert"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Incident(_Frozen):
    """What the specialists are asked to explain. Never carries ground truth."""

    alert: WebhookPayload = Field(description="The Alertmanager notification that opened it.")
    observed_at: datetime = Field(description="The diagnosis clock: nothing after it is used.")
    window_start: datetime = Field(description="Start of the time window to investigate.")
    topology: Topology = Field(default_factory=Topology, description="Site topology hints.")

    @property
    def alertname(self) -> str:
        """The lead alert's name."""
        return self.alert.alertname

    @property
    def fingerprint(self) -> str:
        """The lead alert's fingerprint."""
        return self.alert.fingerprint

    @property
    def labels(self) -> dict[str, str]:
        """Common labels of the group, falling back to the first alert's labels."""
        return dict(self.alert.common_labels) or dict(self.alert.alerts[0].labels)


class Evidence(_Frozen):
    """Raw data a finding rests on: what was asked of which source, and an excerpt."""

    id: str = Field(description="Evidence id, unique within a diagnosis (e1, e2, ...).")
    source: SourceName = Field(description="The data source.")
    query: str = Field(description="The query as sent: PromQL, LogQL, 'OID @ device', 'host$ cmd'.")
    excerpt: str = Field(description="A short excerpt of the answer (telemetry is data only).")
    status: Literal["ok", "empty", "error", "unavailable"] = Field(
        default="ok", description="Whether the source answered with data."
    )
    by: str | None = Field(default=None, description="The specialist that asked (additive).")


class Finding(_Frozen):
    """One observation a specialist made, citing its evidence."""

    id: str = Field(description="Finding id, unique within a diagnosis (f1, f2, ...).")
    by: str = Field(description="The specialist that made it.")
    summary: str = Field(description="One line a human can read at 2 AM.")
    evidence: tuple[str, ...] = Field(description="Evidence ids it rests on.")
    strength: float = Field(ge=0.0, le=1.0, description="How abnormal, 0 (normal) to 1.")
    kind: str = Field(
        default="", description="Machine-readable signal name, e.g. stp_topology_changes."
    )
    component: str | None = Field(default=None, description="What it is about (node, pod, device).")
    onset: datetime | None = Field(default=None, description="When the abnormality began.")


class Hypothesis(_Frozen):
    """A candidate root cause, with its role after reconciliation."""

    layer: str = Field(description="Layer from the root-cause vocabulary.")
    fault: str = Field(description="Fault from that layer's vocabulary.")
    component: str = Field(description="What is broken.")
    score: float = Field(ge=0.0, le=1.0, description="Support after reconciliation, 0..1.")
    by: str = Field(description="The specialist that proposed it.")
    findings: tuple[str, ...] = Field(description="Finding ids it rests on.")
    role: Role = Field(default="root_cause", description="Role decided by reconciliation.")
    explained_by: str | None = Field(
        default=None, description="'layer/fault' of the hypothesis that explains this symptom."
    )
    reason: str = Field(default="", description="Why reconciliation gave it this role.")
    onset: datetime | None = Field(default=None, description="Earliest onset of its findings.")

    @model_validator(mode="after")
    def _in_vocabulary(self) -> Hypothesis:
        check_vocabulary(self.layer, self.fault)
        return self

    @property
    def key(self) -> str:
        """``layer/fault``."""
        return f"{self.layer}/{self.fault}"


class RootCause(_Frozen):
    """The answer: layer, fault and component."""

    layer: str = Field(description="Layer.")
    fault: str = Field(description="Fault.")
    component: str = Field(description="Component.")


class Remediation(_Frozen):
    """A suggested next step for a human. Never executed by Strata."""

    action: str = Field(description="What to do.")
    risk: str = Field(description="What could go wrong doing it.")
    requires_approval: Literal[True] = Field(default=True, description="Always true.")


class ModelUse(_Frozen):
    """Which language model took part, if any."""

    backend: str = Field(description="ollama, openai, llamacpp or none.")
    name: str = Field(default="", description="Model name.")
    available: bool = Field(description="Whether the model answered.")
    note: str = Field(default="", description="Why it is unavailable, when it is.")


class Timings(_Frozen):
    """Where the time went, in seconds."""

    total_s: float = Field(description="Whole diagnosis, wall clock.")
    by_specialist: dict[str, float] = Field(default_factory=dict, description="Per specialist.")
    spans: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="Per specialist (start, end) offsets from the fan-out: overlap is visible.",
    )
    setup_s: float = Field(default=0.0, description="Opening the data sources.")
    model_calls: tuple[ModelCall, ...] = Field(
        default=(),
        description="Every request to the language model, in start order (overlap is visible).",
    )


class ModelCall(_Frozen):
    """One request to the language model: who asked, when, how long, how many tokens."""

    by: str = Field(description="Who asked: a specialist's layer, or 'narrative'.")
    purpose: str = Field(description="probe (choosing a probe), answer, retry or summary.")
    start_s: float = Field(description="Offset from the fan-out when it was asked.")
    end_s: float = Field(description="Offset from the fan-out when it answered.")
    wait_s: float = Field(default=0.0, description="Time queued for a free model slot.")
    prompt_tokens: int = Field(default=0, description="Prompt tokens (as the backend counts).")
    completion_tokens: int = Field(default=0, description="Reply tokens.")
    status: Literal["ok", "error", "timeout"] = Field(default="ok", description="How it ended.")


class ModelReview(_Frozen):
    """What the model proposed and what validation kept (the evidence always stays)."""

    probes: int = Field(default=0, description="Model-chosen probes that ran.")
    probes_refused: int = Field(
        default=0, description="Model-chosen probes refused (not allowed, bad arguments)."
    )
    findings_proposed: int = Field(default=0, description="Findings the model proposed.")
    findings_kept: int = Field(default=0, description="Findings that passed validation.")
    hypotheses_proposed: int = Field(default=0, description="Hypotheses the model proposed.")
    hypotheses_kept: int = Field(default=0, description="Hypotheses that passed validation.")
    retries: int = Field(default=0, description="Replies retried after a validation error.")
    fallbacks: tuple[str, ...] = Field(
        default=(), description="Specialists that fell back to their deterministic findings."
    )
    dropped: tuple[str, ...] = Field(default=(), description="Why each dropped proposal went.")
    tokens: int = Field(default=0, description="Prompt + reply tokens spent on this incident.")


class IncidentRef(_Frozen):
    """How a report names its incident."""

    alertname: str = Field(description="Lead alert name.")
    fingerprint: str = Field(description="Lead alert fingerprint.")
    observed_at: datetime = Field(description="Diagnosis clock.")


class Diagnosis(_Frozen):
    """The report. Serialises to the Diagnosis JSON of scenario format v1."""

    schema_version: Literal[1] = Field(default=1, description="Format version.")
    incident: IncidentRef = Field(description="Which incident.")
    verdict: Verdict = Field(description="diagnosed, abstained or failed.")
    root_cause: RootCause | None = Field(description="The answer; None when failed.")
    confidence: float = Field(ge=0.0, le=1.0, description="Probability root_cause is right.")
    hypotheses: tuple[Hypothesis, ...] = Field(description="Every hypothesis, best first.")
    findings: tuple[Finding, ...] = Field(description="Every finding.")
    evidence: tuple[Evidence, ...] = Field(description="Every piece of evidence.")
    remediation: tuple[Remediation, ...] = Field(description="Suggested steps (never executed).")
    model: ModelUse = Field(description="Language model used.")
    timings: Timings = Field(description="Timings.")
    unavailable: tuple[str, ...] = Field(
        default=(), description="What could not be seen (missing or failed sources)."
    )
    error: str | None = Field(default=None, description="Why the diagnosis failed, when it did.")
    narrative: str = Field(
        default="", description="The model's plain-language summary (never changes the verdict)."
    )
    model_review: ModelReview | None = Field(
        default=None,
        description="What the model proposed and what validation kept; None without a model.",
    )

    def to_json(self, indent: int | None = 2) -> str:
        """The Diagnosis JSON text."""
        return self.model_dump_json(indent=indent, exclude_none=False)

    def to_dict(self) -> dict[str, Any]:
        """The Diagnosis JSON as Python data."""
        return self.model_dump(mode="json")
