"""The coordinator: fan the specialists out concurrently, fan in, reconcile, report.

The specialists run as start nodes of an AutoGen ``GraphFlow``; a reconciler node
with ``activation="all"`` waits for every report, then reconciles and builds the
Diagnosis. Ids are renumbered (e1.., f1..) in a fixed specialist order so the
report is deterministic. Nothing here executes remediation, and nothing here
reads ground truth.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import BaseChatMessage, StructuredMessage, TextMessage
from autogen_agentchat.teams import DiGraphBuilder, GraphFlow
from autogen_core import CancellationToken

from agents.application import ApplicationSpecialist
from agents.calibration import abstain_below, confidence, seen_share
from agents.compute import ComputeSpecialist
from agents.control_plane import ControlPlaneSpecialist
from agents.dns import DnsSpecialist
from agents.investigator import merge_reviews, vet_reports
from agents.llm import ModelHandle, bounded
from agents.model_session import ModelSession
from agents.models import (
    Diagnosis,
    Evidence,
    Finding,
    Hypothesis,
    Incident,
    IncidentRef,
    ModelUse,
    RootCause,
    Timings,
)
from agents.narrative import narrate
from agents.network import NetworkSpecialist
from agents.reconcile import reconcile
from agents.remediation import suggest
from agents.specialist import Specialist, SpecialistReport
from agents.storage import StorageSpecialist
from agents.workload import focus_names, subject_of_alert
from tools.sources import Sources

log = logging.getLogger(__name__)

SPECIALISTS: tuple[type[Specialist], ...] = (
    NetworkSpecialist,
    ComputeSpecialist,
    StorageSpecialist,
    DnsSpecialist,
    ControlPlaneSpecialist,
    ApplicationSpecialist,
)
"""Every layer's specialist, in report order."""

ProgressFn = Callable[[str, str], None]
"""Called with (specialist, event) as the investigation proceeds."""


def renumber(
    reports: Sequence[SpecialistReport],
) -> tuple[list[Evidence], list[Finding], list[Hypothesis], list[str]]:
    """Give evidence and findings global ids; drop hypotheses that cite unknown findings."""
    ev_map: dict[str, str] = {}
    f_map: dict[str, str] = {}
    evidence: list[Evidence] = []
    findings: list[Finding] = []
    hypotheses: list[Hypothesis] = []
    notes: list[str] = []
    for report in reports:
        for e in report.evidence:
            ev_map[e.id] = f"e{len(ev_map) + 1}"
            evidence.append(e.model_copy(update={"id": ev_map[e.id]}))
        for f in report.findings:
            f_map[f.id] = f"f{len(f_map) + 1}"
            cited = tuple(ev_map[x] for x in f.evidence if x in ev_map)
            findings.append(f.model_copy(update={"id": f_map[f.id], "evidence": cited}))
        for h in report.hypotheses:
            unknown = [x for x in h.findings if x not in f_map]
            if unknown or not h.findings:
                notes.append(
                    f"dropped {h.key} from {h.by}: cites findings never made ({unknown or 'none'})"
                )
                continue
            hypotheses.append(
                h.model_copy(update={"findings": tuple(f_map[x] for x in h.findings)})
            )
        notes.extend(report.notes)
    return evidence, findings, hypotheses, notes


def build_diagnosis(
    incident: Incident,
    reports: Sequence[SpecialistReport],
    model: ModelUse,
    extra_notes: Sequence[str] = (),
) -> Diagnosis:
    """Reconcile the specialists' reports into a Diagnosis (timings filled in by the caller)."""
    # The model's proposals were checked by each specialist; check them again here.
    reports, model_drops = vet_reports(reports)
    evidence, findings, hypotheses, notes = renumber(reports)
    result = reconcile(hypotheses, incident.topology, focus_names(incident.labels))
    # "Nothing is broken" is only as good as what could be looked at: coverage is an input.
    conf = confidence(result, seen=seen_share(evidence), evidence=evidence)
    if result.root is not None:
        root = RootCause(
            layer=result.root.layer, fault=result.root.fault, component=result.root.component
        )
    else:
        root = RootCause(layer="none", fault="no_fault", component=subject_of_alert(incident))
    verdict = "diagnosed" if conf >= abstain_below() else "abstained"
    unavailable = tuple(dict.fromkeys([*extra_notes, *notes]))
    return Diagnosis(
        incident=IncidentRef(
            alertname=incident.alertname,
            fingerprint=incident.fingerprint,
            observed_at=incident.observed_at,
        ),
        verdict=verdict,
        root_cause=root,
        confidence=conf,
        hypotheses=result.hypotheses,
        findings=tuple(findings),
        evidence=tuple(evidence),
        remediation=suggest(root),
        model=model,
        timings=Timings(total_s=0.0),
        unavailable=unavailable,
        model_review=merge_reviews(reports, model_drops),
    )


class Reconciler(BaseChatAgent):
    """The fan-in node: waits for every specialist's report and produces the Diagnosis."""

    def __init__(self, incident: Incident, model: ModelUse, notes: Sequence[str]) -> None:
        super().__init__(name="coordinator", description="Reconciles specialist hypotheses.")
        self._incident = incident
        self._model = model
        self._notes = tuple(notes)
        self.diagnosis: Diagnosis | None = None

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        """It answers with the Diagnosis."""
        return (StructuredMessage[Diagnosis],)

    async def on_messages(
        self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken
    ) -> Response:
        """Collect the reports among ``messages`` and reconcile them."""
        reports = [
            m.content
            for m in messages
            if isinstance(m, StructuredMessage) and isinstance(m.content, SpecialistReport)
        ]
        order = {cls.layer: i for i, cls in enumerate(SPECIALISTS)}
        reports.sort(key=lambda r: order.get(r.specialist, len(order)))
        self.diagnosis = build_diagnosis(self._incident, reports, self._model, self._notes)
        return Response(
            chat_message=StructuredMessage[Diagnosis](content=self.diagnosis, source=self.name)
        )

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        """Forget the last diagnosis."""
        self.diagnosis = None


def failed_diagnosis(incident: Incident, model: ModelUse, error: str, total_s: float) -> Diagnosis:
    return Diagnosis(
        incident=IncidentRef(
            alertname=incident.alertname,
            fingerprint=incident.fingerprint,
            observed_at=incident.observed_at,
        ),
        verdict="failed",
        root_cause=None,
        confidence=0.0,
        hypotheses=(),
        findings=(),
        evidence=(),
        remediation=(),
        model=model,
        timings=Timings(total_s=round(total_s, 3)),
        error=error,
    )


async def diagnose(
    incident: Incident,
    sources: Sources,
    model: ModelHandle,
    *,
    specialists: Sequence[type[Specialist]] = SPECIALISTS,
    progress: ProgressFn | None = None,
    setup_s: float = 0.0,
) -> Diagnosis:
    """Investigate ``incident`` with every specialist concurrently and reconcile.

    Never raises for a data or model problem: a broken run is a Diagnosis with
    verdict "failed" and the error.
    """
    started = time.perf_counter()
    agents = [
        cls(incident, sources, model_client=model.client, on_event=progress) for cls in specialists
    ]
    # One session per incident over the one shared, bounded client: timings and budgets.
    session = (
        ModelSession(bounded(model.client, model.limits), started=started)
        if model.client is not None
        else None
    )
    for agent in agents:
        agent.model_session = session
    reconciler = Reconciler(incident, model.use, sources.notes)
    builder = DiGraphBuilder()
    for agent in agents:
        builder.add_node(agent)
    builder.add_node(reconciler, activation="all")
    for agent in agents:
        builder.add_edge(agent, reconciler)
    flow = GraphFlow(participants=builder.get_participants(), graph=builder.build())
    task = TextMessage(
        content=f"Investigate alert {incident.alertname} observed at {incident.observed_at}",
        source="user",
    )
    try:
        async for event in flow.run_stream(task=task):
            if (
                progress is not None
                and isinstance(event, StructuredMessage)
                and isinstance(event.content, SpecialistReport)
            ):
                r = event.content
                progress(
                    r.specialist, f"{len(r.findings)} findings, {len(r.hypotheses)} hypotheses"
                )
    except Exception as exc:  # the team runtime wraps agent errors in many types
        log.exception("diagnosis failed")
        return failed_diagnosis(
            incident, model.use, f"{type(exc).__name__}: {exc}", time.perf_counter() - started
        )
    diagnosis = reconciler.diagnosis
    if diagnosis is None:
        return failed_diagnosis(
            incident,
            model.use,
            "the coordinator produced no diagnosis",
            time.perf_counter() - started,
        )
    spans: dict[str, tuple[float, float]] = {}
    by: dict[str, float] = {}
    for agent in agents:
        if agent.report is not None:
            r = agent.report
            spans[r.specialist] = (round(r.started_s - started, 4), round(r.ended_s - started, 4))
            by[r.specialist] = round(r.ended_s - r.started_s, 4)
    if model.client is not None and diagnosis.root_cause is not None:
        if progress is not None:
            progress("model", f"asking {model.use.name} for a summary")
        text, note = await narrate(model.client, diagnosis, session=session)
        diagnosis = diagnosis.model_copy(
            update={
                "narrative": text,
                "unavailable": diagnosis.unavailable + ((note,) if note else ()),
            }
        )
    timings = Timings(
        total_s=round(time.perf_counter() - started + setup_s, 3),
        by_specialist=by,
        spans=spans,
        setup_s=round(setup_s, 3),
        model_calls=tuple(sorted(session.calls, key=lambda c: c.start_s)) if session else (),
    )
    review = diagnosis.model_review
    if review is not None and session is not None:
        review = review.model_copy(update={"tokens": session.tokens})
    return diagnosis.model_copy(update={"timings": timings, "model_review": review})
