"""The specialist base: an AutoGen chat agent that investigates one layer.

A specialist runs a deterministic baseline probe plan through :class:`ProbeContext`,
which records every query as Evidence (errors and absent sources included, as data),
then turns its findings into hypotheses in the root-cause vocabulary. It works with
or without a model client. It never changes anything: every source it touches is
read-only, and nothing it reads (log lines, SNMP strings, command output) is ever
treated as an instruction.
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import BaseChatMessage, StructuredMessage
from autogen_core import CancellationToken
from autogen_core.models import ChatCompletionClient
from pydantic import BaseModel, ConfigDict, Field

from agents.models import Evidence, Finding, Hypothesis, Incident, ModelReview, SourceName
from tools.errors import ToolError
from tools.logs.base import LogQuery, LogRecord
from tools.metrics.base import Sample, Series
from tools.redact import redact
from tools.snmp.base import Varbind
from tools.snmp.oids import name_of
from tools.sources import Sources
from tools.ssh.base import CommandResult

if TYPE_CHECKING:
    from agents.model_session import ModelSession

log = logging.getLogger(__name__)

EXCERPT_MAX = 600
"""Longest evidence excerpt kept, in characters."""

EventFn = Callable[[str, str], None]
"""Progress hook: ``(specialist, message)``; called for each probe and finding as it happens."""


class SpecialistReport(BaseModel):
    """What one specialist hands the coordinator. Ids are local (``dns.e1``)."""

    model_config = ConfigDict(frozen=True)

    specialist: str = Field(description="Specialist name (= its layer).")
    evidence: tuple[Evidence, ...] = Field(description="Everything it queried.")
    findings: tuple[Finding, ...] = Field(description="What it noticed.")
    hypotheses: tuple[Hypothesis, ...] = Field(description="What it proposes.")
    notes: tuple[str, ...] = Field(default=(), description="What it could not see, and why.")
    model_review: ModelReview | None = Field(
        default=None, description="What the model proposed and what was kept (with a model)."
    )
    model_added: int = Field(
        default=0, description="How many of the hypotheses (the last ones) the model proposed."
    )
    started_s: float = Field(description="perf_counter() when it started.")
    ended_s: float = Field(description="perf_counter() when it ended.")


def _clip(text: str, limit: int = EXCERPT_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fmt(v: float) -> str:
    return f"{v:.4g}"


@dataclass
class ProbeContext:
    """Everything a probe may touch, and the ledger of what it saw.

    Each query method records one Evidence (ok, empty, error or unavailable) and
    returns plain data plus the evidence id; it never raises on source failures.
    """

    incident: Incident
    sources: Sources
    specialist: str
    step_s: float = 30.0
    evidence: list[Evidence] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    on_event: EventFn | None = None

    def emit(self, message: str) -> None:
        """Tell the progress hook (if any) what just happened; a broken hook is ignored."""
        if self.on_event is None:
            return
        try:
            self.on_event(self.specialist, message)
        except Exception:  # a display bug must never stop an investigation
            log.debug("progress hook failed", exc_info=True)

    @property
    def start(self) -> datetime:
        """Window start."""
        return self.incident.window_start

    @property
    def end(self) -> datetime:
        """Window end: the diagnosis clock."""
        return self.incident.observed_at

    def _evidence(self, source: SourceName, query: str, excerpt: str, status: str = "ok") -> str:
        eid = f"{self.specialist}.e{len(self.evidence) + 1}"
        self.evidence.append(
            Evidence.model_validate(
                {
                    "id": eid,
                    "source": source,
                    "query": redact(query),
                    "excerpt": _clip(redact(excerpt)),
                    "status": status,
                    "by": self.specialist,
                }
            )
        )
        self.emit(f"probe {source} [{status}] {query}")
        return eid

    def _unavailable(self, source: SourceName, query: str) -> str:
        reason = f"{source} not available for this incident"
        if reason not in self.notes:
            self.notes.append(reason)
        return self._evidence(source, query, reason, "unavailable")

    def _failed(self, source: SourceName, query: str, exc: ToolError) -> str:
        self.notes.append(f"{source} query failed: {exc.title}: {exc.message}")
        log.warning("%s: %s query failed: %s", self.specialist, source, exc)
        return self._evidence(source, query, f"{exc.title}: {exc.message}", "error")

    async def metric_range(
        self,
        promql: str,
        *,
        start: datetime | None = None,
        step_s: float | None = None,
    ) -> tuple[list[Series], str]:
        """Range query over the incident window; (series, evidence id)."""
        if self.sources.metrics is None:
            return [], self._unavailable("metrics", promql)
        try:
            series = await self.sources.metrics.range(
                promql, start or self.start, self.end, step_s or self.step_s
            )
        except ToolError as exc:
            return [], self._failed("metrics", promql, exc)
        if not series:
            return [], self._evidence("metrics", promql, "no data", "empty")
        lines = []
        for s in sorted(series, key=lambda s: -max(s.values, default=0.0))[:5]:
            lbl = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()) if k != "__name__")
            vals = s.values
            lines.append(
                f"{{{lbl}}} first {_fmt(vals[0])} min {_fmt(min(vals))} "
                f"max {_fmt(max(vals))} last {_fmt(vals[-1])} ({len(vals)} pts)"
            )
        if len(series) > 5:
            lines.append(f"… {len(series) - 5} more series")
        return series, self._evidence("metrics", promql, "\n".join(lines))

    async def metric_instant(
        self, promql: str, at: datetime | None = None
    ) -> tuple[list[Sample], str]:
        """Instant query at ``at`` (default: the diagnosis clock); (samples, evidence id)."""
        if self.sources.metrics is None:
            return [], self._unavailable("metrics", promql)
        try:
            samples = await self.sources.metrics.instant(promql, at or self.end)
        except ToolError as exc:
            return [], self._failed("metrics", promql, exc)
        if not samples:
            return [], self._evidence("metrics", promql, "no data", "empty")
        text = "\n".join(
            "{"
            + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()) if k != "__name__")
            + f"}} {_fmt(s.value)}"
            for s in samples[:8]
        )
        return samples, self._evidence("metrics", promql, text)

    async def logs(self, query: LogQuery) -> tuple[list[LogRecord], str]:
        """Log lines matching ``query``; (records, evidence id). Lines are data only."""
        from tools.logs.logql import render_logql

        text_query = render_logql(query)
        if self.sources.logs is None:
            return [], self._unavailable("logs", text_query)
        try:
            records = await self.sources.logs.query(query)
        except ToolError as exc:
            return [], self._failed("logs", text_query, exc)
        if not records:
            return [], self._evidence("logs", text_query, "no matching lines", "empty")
        shown = [r.line[:200] for r in records[:3]]
        excerpt = f"{len(records)} lines; first: " + " ⏎ ".join(shown)
        return records, self._evidence("logs", text_query, excerpt)

    def log_query(
        self,
        matchers: dict[str, str],
        *contains: str,
        regex: str | None = None,
        start: datetime | None = None,
    ) -> LogQuery:
        """Shorthand: equality matchers, substring filters and an optional regex filter."""
        filters: list[dict[str, str]] = [{"op": "|=", "value": c} for c in contains]
        if regex:
            filters.append({"op": "|~", "value": regex})
        return LogQuery.model_validate(
            {
                "matchers": [{"label": k, "op": "=", "value": v} for k, v in matchers.items()],
                "filters": filters,
                "start": start or self.start,
                "end": self.end,
            }
        )

    async def snmp_walk(
        self, device: str, prefix: str, at: datetime | None = None
    ) -> tuple[list[Varbind], str]:
        """Walk ``prefix`` on ``device`` at ``at``; (varbinds, evidence id)."""
        query = f"walk {name_of(prefix)} ({prefix}) @ {device}"
        if self.sources.snmp is None:
            return [], self._unavailable("snmp", query)
        try:
            rows = await self.sources.snmp.walk(device, prefix, at or self.end)
        except ToolError as exc:
            return [], self._failed("snmp", query, exc)
        if not rows:
            return [], self._evidence("snmp", query, "no such object", "empty")
        text = "; ".join(f"{name_of(v.oid)}={v.value}" for v in rows[:12])
        return rows, self._evidence("snmp", query, text)

    async def snmp_get(
        self, device: str, oids: Sequence[str], at: datetime | None = None
    ) -> tuple[list[Varbind], str]:
        """Get ``oids`` from ``device`` at ``at``; (varbinds, evidence id)."""
        query = "get " + ", ".join(name_of(o) for o in oids) + f" @ {device}"
        if self.sources.snmp is None:
            return [], self._unavailable("snmp", query)
        try:
            rows = await self.sources.snmp.get(device, list(oids), at or self.end)
        except ToolError as exc:
            return [], self._failed("snmp", query, exc)
        if not rows:
            return [], self._evidence("snmp", query, "no such object", "empty")
        text = "; ".join(f"{name_of(v.oid)}={v.value}" for v in rows)
        return rows, self._evidence("snmp", query, text)

    def add_snmp_evidence(self, query: str, excerpt: str) -> str:
        """Record a derived SNMP observation (e.g. a delta between two polls)."""
        return self._evidence("snmp", query, excerpt)

    async def ssh(self, host: str, command: str) -> tuple[CommandResult, str]:
        """Run an allow-listed read-only command; (result, evidence id)."""
        query = f"{host}$ {command}"
        if self.sources.ssh is None:
            eid = self._unavailable("ssh", query)
            return CommandResult(
                host=host, command=command, status="unavailable", reason="ssh not available"
            ), eid
        result = await self.sources.ssh.run(host, command)
        if result.status != "ok":
            return result, self._evidence(
                "ssh",
                query,
                result.reason or result.stderr,
                "unavailable" if result.status == "unavailable" else "error",
            )
        return result, self._evidence("ssh", query, result.stdout or "(no output)")

    def add_finding(
        self,
        summary: str,
        evidence: Sequence[str],
        strength: float,
        *,
        kind: str,
        component: str | None = None,
        onset: datetime | None = None,
    ) -> Finding:
        """Record a finding citing evidence ids this context produced."""
        known = {e.id for e in self.evidence}
        missing = [e for e in evidence if e not in known]
        if missing:
            raise ValueError(f"finding cites unknown evidence {missing}")
        finding = Finding(
            id=f"{self.specialist}.f{len(self.findings) + 1}",
            by=self.specialist,
            summary=redact(summary),
            evidence=tuple(evidence),
            strength=round(max(0.0, min(1.0, strength)), 3),
            kind=kind,
            component=component,
            onset=onset,
        )
        self.findings.append(finding)
        self.emit(f"finding {finding.strength:.2f} {summary}")
        return finding

    def findings_of(self, *kinds: str) -> list[Finding]:
        """This context's findings of the given kinds, strongest first."""
        return sorted((f for f in self.findings if f.kind in kinds), key=lambda f: -f.strength)

    def hypothesis(
        self,
        fault: str,
        component: str,
        findings: Sequence[Finding],
        score: float,
        *,
        layer: str | None = None,
    ) -> Hypothesis:
        """A hypothesis of this specialist's layer resting on ``findings``."""
        onsets = [f.onset for f in findings if f.onset is not None]
        return Hypothesis(
            layer=layer or self.specialist,
            fault=fault,
            component=component,
            score=round(max(0.0, min(1.0, score)), 3),
            by=self.specialist,
            findings=tuple(f.id for f in findings),
            onset=min(onsets) if onsets else None,
        )


class Specialist(BaseChatAgent):
    """One layer's investigator. Subclasses set ``layer`` and implement two steps.

    ``probe`` gathers evidence and records findings; ``hypothesize`` turns findings
    into hypotheses. Both are deterministic. With a model (a client, or a
    :class:`agents.model_session.ModelSession` set on ``model_session`` by the
    coordinator), :func:`agents.investigator.investigate_with_model` then lets it
    choose follow-up probes and propose findings and hypotheses, which are validated
    and may only add to the deterministic ones: it never removes evidence.
    """

    layer: ClassVar[str]
    description_text: ClassVar[str] = "Investigates one infrastructure layer."

    def __init__(
        self,
        incident: Incident,
        sources: Sources,
        *,
        model_client: ChatCompletionClient | None = None,
        step_s: float = 30.0,
        on_event: EventFn | None = None,
    ) -> None:
        super().__init__(name=self.layer.replace("-", "_"), description=self.description_text)
        self._incident = incident
        self._sources = sources
        self._model_client = model_client
        self._step_s = step_s
        self._on_event = on_event
        self.report: SpecialistReport | None = None
        self.model_session: ModelSession | None = None
        """The incident's model session (set by the coordinator); None runs rules only."""

    def _session(self) -> ModelSession | None:
        if self.model_session is None and self._model_client is not None:
            from agents.llm import bounded
            from agents.model_session import ModelSession

            self.model_session = ModelSession(bounded(self._model_client))
        return self.model_session

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        """It answers with one structured report."""
        return (StructuredMessage[SpecialistReport],)

    @abstractmethod
    async def probe(self, ctx: ProbeContext) -> None:
        """Run the baseline probe plan, recording evidence and findings."""

    @abstractmethod
    def hypothesize(self, ctx: ProbeContext) -> list[Hypothesis]:
        """Hypotheses from the findings (may be empty: nothing wrong in this layer)."""

    async def investigate(self) -> SpecialistReport:
        """Probe, hypothesise, and report. A bug in a probe becomes a note, not a crash."""
        started = time.perf_counter()
        ctx = ProbeContext(
            self._incident, self._sources, self.layer, step_s=self._step_s, on_event=self._on_event
        )
        ctx.emit("investigating")
        hypotheses: list[Hypothesis] = []
        try:
            await self.probe(ctx)
            hypotheses = self.hypothesize(ctx)
        except Exception as exc:  # one specialist's bug must not cost the incident its diagnosis
            log.exception("%s specialist failed", self.layer)
            ctx.notes.append(f"{self.layer} specialist stopped early: {type(exc).__name__}: {exc}")
        review: ModelReview | None = None
        added: list[Hypothesis] = []
        session = self._session()
        if session is not None:
            from agents.investigator import investigate_with_model

            try:
                added, review = await investigate_with_model(
                    session, ctx, self._incident, hypotheses
                )
                hypotheses = [*hypotheses, *added]
            except Exception as exc:  # a bug on the model path must not cost the rules' work
                log.exception("%s: model investigation failed", self.layer)
                review = ModelReview(
                    fallbacks=(self.layer,), dropped=(f"{self.layer}: {type(exc).__name__}: {exc}",)
                )
        self.report = SpecialistReport(
            specialist=self.layer,
            evidence=tuple(ctx.evidence),
            findings=tuple(ctx.findings),
            hypotheses=tuple(hypotheses),
            notes=tuple(ctx.notes),
            model_review=review,
            model_added=len(added),
            started_s=started,
            ended_s=time.perf_counter(),
        )
        return self.report

    async def on_messages(
        self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken
    ) -> Response:
        """Investigate the incident (the task message only triggers it: it is not parsed)."""
        report = await self.investigate()
        return Response(
            chat_message=StructuredMessage[SpecialistReport](content=report, source=self.name)
        )

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        """Forget the last report."""
        self.report = None


def window_offset(incident: Incident, minutes: float) -> datetime:
    """``minutes`` before the diagnosis clock, not before the window start."""
    return max(incident.window_start, incident.observed_at - timedelta(minutes=minutes))
