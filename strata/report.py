"""Render a Diagnosis for a human at a terminal. Pure: data in, text out."""

from __future__ import annotations

from agents.models import Diagnosis

_ROLE = {
    "root_cause": "● root cause",
    "symptom": "○ symptom",
    "ruled_out": "✗ ruled out",
    "contributing": "◐ contributing",
}


def render_text(d: Diagnosis, *, max_findings: int = 8) -> str:
    """The compact report: verdict, root cause, evidence chain, ruled out, next steps."""
    out: list[str] = []
    when = d.incident.observed_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    out.append(f"Strata diagnosis — alert {d.incident.alertname} (observed {when})")
    if d.model.available:
        out.append(f"Model: {d.model.backend}:{d.model.name}")
    else:
        out.append(f"Model: none — {d.model.note or 'running on baseline probes only'}")
    out.append("")
    if d.verdict == "failed" or d.root_cause is None:
        out.append("VERDICT     failed")
        out.append(f"ERROR       {d.error or 'unknown error'}")
        return "\n".join(out) + "\n"
    rc = d.root_cause
    out.append(f"VERDICT     {d.verdict}")
    out.append(f"ROOT CAUSE  {rc.layer} / {rc.fault} / {rc.component}")
    out.append(f"CONFIDENCE  {d.confidence:.2f}")
    if d.verdict == "abstained":
        out.append("            (below the abstention threshold: treat the root cause as a lead)")

    if d.narrative:
        out.append("")
        out.append(f"Summary (model): {d.narrative}")
    findings = {f.id: f for f in d.findings}
    evidence = {e.id: e for e in d.evidence}
    root = next((h for h in d.hypotheses if h.role == "root_cause"), None)
    if root is not None:
        out.append("")
        out.append("Evidence chain")
        for fid in root.findings[:max_findings]:
            f = findings.get(fid)
            if f is None:
                continue
            out.append(f"  {f.id:<4} {f.summary}  [strength {f.strength:.2f}]")
            for eid in f.evidence[:2]:
                e = evidence.get(eid)
                if e is not None:
                    first = e.excerpt.splitlines()[0] if e.excerpt else ""
                    out.append(f"       {e.id} {e.source}: {e.query[:70]}")
                    if first:
                        out.append(f"          {first[:96]}")
    others = [h for h in d.hypotheses if h.role != "root_cause"]
    if d.hypotheses:
        out.append("")
        out.append("Hypotheses")
        for h in d.hypotheses:
            label = _ROLE.get(h.role, h.role)
            out.append(f"  {label:<14} {h.key} on {h.component}  score {h.score:.2f}  (by {h.by})")
            if h.role != "root_cause" and h.reason:
                out.append(f"                 {h.reason}")
    if not others and root is None:
        out.append("")
        out.append("No specialist found abnormal evidence in its layer.")
    if d.unavailable:
        out.append("")
        out.append("Could not see")
        for note in d.unavailable:
            out.append(f"  - {note}")
    if d.remediation:
        out.append("")
        out.append("Suggested next steps — each requires approval; Strata executes nothing")
        for i, r in enumerate(d.remediation, 1):
            out.append(f"  {i}. {r.action}")
            out.append(f"     risk: {r.risk}")
    t = d.timings
    out.append("")
    spans = ", ".join(
        f"{name} {end - start:.2f}s [{start:.2f}–{end:.2f}]"
        for name, (start, end) in t.spans.items()
    )
    out.append(f"Timings: total {t.total_s:.2f}s (sources {t.setup_s:.2f}s); specialists: {spans}")
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    """Telemetry is data: neutralise Markdown/HTML so a log line cannot restyle the report."""
    out = text.replace("\\", "\\\\")
    for ch in "`*_[]<>|#":
        out = out.replace(ch, "\\" + ch)
    return out.replace("\n", " ")


def _code(text: str) -> str:
    """Raw telemetry (queries, log lines) as an inline code span: shown verbatim, never rendered."""
    return "`` " + text.replace("`", "'").replace("\n", " ") + " ``"


def render_markdown(d: Diagnosis, *, max_findings: int = 12) -> str:
    """The report as Markdown (for files, chat messages and exports). Pure: data in, text out."""
    out: list[str] = []
    when = d.incident.observed_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    out.append(f"# Strata diagnosis — {_md(d.incident.alertname)}")
    out.append("")
    out.append(f"- Observed: {when}")
    model = (
        f"{d.model.backend}:{d.model.name}"
        if d.model.available
        else f"none ({_md(d.model.note or 'baseline probes only')})"
    )
    out.append(f"- Model: {model}")
    out.append(f"- Verdict: **{d.verdict}**")
    if d.verdict == "failed" or d.root_cause is None:
        out.append(f"- Error: {_md(d.error or 'unknown error')}")
        return "\n".join(out) + "\n"
    rc = d.root_cause
    out.append(f"- Root cause: **{rc.layer} / {rc.fault} / {_md(rc.component)}**")
    out.append(f"- Confidence: {d.confidence:.2f}")
    if d.verdict == "abstained":
        out.append(
            "- Below the abstention threshold: treat the root cause as a lead, not an answer."
        )
    if d.narrative:
        out += ["", "## Summary (model)", "", _md(d.narrative)]
    findings = {f.id: f for f in d.findings}
    evidence = {e.id: e for e in d.evidence}
    root = next((h for h in d.hypotheses if h.role == "root_cause"), None)
    if root is not None:
        out += ["", "## Evidence chain", ""]
        for fid in root.findings[:max_findings]:
            f = findings.get(fid)
            if f is None:
                continue
            out.append(f"- `{f.id}` {_md(f.summary)} (strength {f.strength:.2f})")
            for eid in f.evidence[:2]:
                e = evidence.get(eid)
                if e is None:
                    continue
                first = e.excerpt.splitlines()[0] if e.excerpt else ""
                out.append(f"  - `{e.id}` {e.source}: {_code(e.query[:120])}")
                if first:
                    out.append(f"    - {_code(first[:160])}")
    if d.hypotheses:
        out += ["", "## Hypotheses", "", "| role | hypothesis | component | score | by | reason |"]
        out.append("|---|---|---|---|---|---|")
        for h in d.hypotheses:
            out.append(
                f"| {h.role.replace('_', ' ')} | {h.key} | {_md(h.component)} | {h.score:.2f} "
                f"| {h.by} | {_md(h.reason)} |"
            )
    if d.unavailable:
        out += ["", "## Could not see", ""]
        out += [f"- {_md(note)}" for note in d.unavailable]
    if d.remediation:
        out += [
            "",
            "## Suggested next steps",
            "",
            "Each requires approval; Strata executes nothing.",
            "",
        ]
        for i, r in enumerate(d.remediation, 1):
            out.append(f"{i}. {_md(r.action)} — risk: {_md(r.risk)}")
    out += ["", f"_Diagnosis took {d.timings.total_s:.2f}s._"]
    return "\n".join(out) + "\n"
