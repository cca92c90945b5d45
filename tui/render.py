"""Pure renderers: incidents, specialists, hypotheses and evidence to rows and Rich text.

Data in, rows/text out — no App, no I/O, no clock — so each is unit-tested on its own and
the screens stay thin. Telemetry (log lines, command output, queries) is data: it is put
into ``Text`` objects verbatim and never parsed as markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from rich.text import Text

from agents.models import Diagnosis, Finding, Hypothesis
from tui.evidence import CommandOutput, CounterDeltas, LogLines, PlotData, highlight_spans
from tui.state import IncidentEntry, ProgressEvent, SpecialistState

ROLE_BADGE = {
    "root_cause": ("● ROOT CAUSE", "bold green"),
    "symptom": ("○ SYMPTOM", "yellow"),
    "ruled_out": ("✗ RULED OUT", "dim"),
    "contributing": ("◐ CONTRIBUTING", "cyan"),
}
"""Role → (badge text, style)."""

STATUS_STYLE = {
    "queued": "dim",
    "diagnosing": "bold yellow",
    "diagnosed": "bold green",
    "abstained": "magenta",
    "failed": "bold red",
    "resolved": "dim green",
}

INCIDENT_COLUMNS = ("alert", "status", "root cause", "conf.", "severity", "since (UTC)")


def fmt_time(ts: datetime | None) -> str:
    """``2024-12-14 03:04`` in UTC (the UI shows one zone, always UTC)."""
    if ts is None:
        return "—"
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def fmt_confidence(value: float | None) -> str:
    """``0.99`` or an em dash."""
    return "—" if value is None else f"{value:.2f}"


def incident_row(entry: IncidentEntry) -> tuple[Text, ...]:
    """One row of the incidents table, in :data:`INCIDENT_COLUMNS` order."""
    sev = entry.severity or "—"
    sev_style = {"critical": "bold red", "warning": "yellow", "info": "cyan"}.get(sev, "")
    return (
        Text(entry.alertname, style="bold"),
        Text(entry.status, style=STATUS_STYLE.get(entry.status, "")),
        Text(entry.root_cause or "—"),
        Text(fmt_confidence(entry.confidence), justify="right"),
        Text(sev, style=sev_style),
        Text(fmt_time(entry.since)),
    )


def matches_filter(entry: IncidentEntry, text: str) -> bool:
    """Whether every word of ``text`` occurs (case-insensitively) in the row or its key."""
    words = text.lower().split()
    if not words:
        return True
    hay = " ".join(
        [
            entry.key,
            entry.alertname,
            entry.severity or "",
            entry.status,
            entry.root_cause or "",
        ]
    ).lower()
    return all(w in hay for w in words)


def filter_entries(entries: Iterable[IncidentEntry], text: str) -> list[IncidentEntry]:
    """The entries that :func:`matches_filter` keeps, in their order."""
    return [e for e in entries if matches_filter(e, text)]


# --------------------------------------------------------------------------- specialists

_SPECIALIST_ICON = {"waiting": "·", "investigating": "◌", "done": "✓"}
_PROBE_STYLE = {"ok": "green", "empty": "dim", "error": "red", "unavailable": "red"}


def specialist_title(state: SpecialistState) -> str:
    """``✓ network  7 findings · 1 hypothesis``."""
    icon = _SPECIALIST_ICON[state.status]
    if state.status == "done":
        hyp = "hypothesis" if state.hypotheses == 1 else "hypotheses"
        return f"{icon} {state.name}  {state.findings} found · {state.hypotheses} {hyp}"
    return f"{icon} {state.name}  {state.status}"


def strength_bar(strength: float | None, width: int = 5) -> str:
    """``▰▰▰▰▱`` for a 0..1 strength."""
    if strength is None:
        return "?" * width
    full = round(max(0.0, min(1.0, strength)) * width)
    return "▰" * full + "▱" * (width - full)


def event_line(event: ProgressEvent) -> Text:
    """One line of a specialist's stream: a probe with its status, or a finding."""
    if event.kind == "probe":
        line = Text()
        line.append(f"{event.status:<5} ", style=_PROBE_STYLE.get(event.status, ""))
        line.append(f"{event.source:<7} ", style="dim")
        line.append(event.text)
        return line
    if event.kind == "finding":
        line = Text()
        line.append(f"{strength_bar(event.strength)} ", style="bold red")
        line.append(event.text, style="bold")
        return line
    return Text(event.text, style="italic dim")


def specialist_lines(state: SpecialistState, *, findings_first: bool = True) -> list[Text]:
    """The panel body: findings first (what matters), then every probe in order."""
    if findings_first:
        found = [e for e in state.events if e.kind == "finding"]
        rest = [e for e in state.events if e.kind != "finding"]
        events: Sequence[ProgressEvent] = found + rest
    else:
        events = state.events
    return [event_line(e) for e in events]


# --------------------------------------------------------------------------- verdict


def verdict_text(d: Diagnosis) -> Text:
    """``DIAGNOSED  network/stp_loop/sw1  confidence 0.99`` (or why it failed)."""
    out = Text()
    if d.verdict == "failed" or d.root_cause is None:
        out.append("FAILED  ", style="bold red")
        out.append(d.error or "unknown error")
        return out
    rc = d.root_cause
    style = "bold green" if d.verdict == "diagnosed" else "bold magenta"
    out.append(f"{d.verdict.upper()}  ", style=style)
    out.append(f"{rc.layer}/{rc.fault}/{rc.component}", style="bold")
    out.append(f"  confidence {d.confidence:.2f}")
    if d.verdict == "abstained":
        out.append("  (below the abstention threshold: a lead, not an answer)", style="italic")
    return out


def hypothesis_rows(d: Diagnosis) -> list[tuple[Text, Text, Text, Text, Text]]:
    """Hypotheses board rows, best first: (badge, hypothesis, score, by, reason).

    The root cause's score column shows the calibrated confidence; the others show their
    support after reconciliation.
    """
    rows = []
    for h in ranked_hypotheses(d):
        badge, style = ROLE_BADGE.get(h.role, (h.role, ""))
        value = d.confidence if h.role == "root_cause" and d.root_cause else h.score
        reason = h.reason or ("the best-supported explanation" if h.role == "root_cause" else "")
        if h.explained_by and h.explained_by not in reason:
            reason = f"explained by {h.explained_by}: {reason}" if reason else h.explained_by
        rows.append(
            (
                Text(badge, style=style),
                Text(f"{h.key} on {h.component}", style="bold" if h.role == "root_cause" else ""),
                Text(f"{value:.2f}", justify="right"),
                Text(h.by, style="dim"),
                Text(reason),
            )
        )
    return rows


def ranked_hypotheses(d: Diagnosis) -> list[Hypothesis]:
    """Root cause first, then by score (stable for equal scores)."""
    order = {"root_cause": 0, "contributing": 1, "symptom": 2, "ruled_out": 3}
    return sorted(d.hypotheses, key=lambda h: (order.get(h.role, 4), -h.score))


def finding_rows(d: Diagnosis) -> list[tuple[str, Text]]:
    """(finding id, line) for the findings list: root cause's findings first."""
    root = next((h for h in d.hypotheses if h.role == "root_cause"), None)
    first = set(root.findings) if root else set()
    ordered: list[Finding] = [f for f in d.findings if f.id in first]
    ordered += [f for f in d.findings if f.id not in first]
    out = []
    for f in ordered:
        line = Text()
        line.append(f"{f.id:<4}", style="dim")
        line.append(f"{strength_bar(f.strength)} ", style="red" if f.strength >= 0.5 else "yellow")
        line.append(f.summary)
        line.append(f"  ({f.by})", style="dim")
        out.append((f.id, line))
    return out


# --------------------------------------------------------------------------- evidence


def time_ticks(start: float, end: float, count: int = 5) -> tuple[list[float], list[str]]:
    """Evenly spaced x ticks over ``[start, end]`` labelled ``HH:MM`` (UTC)."""
    if end <= start or count < 2:
        return [start], [datetime.fromtimestamp(start, UTC).strftime("%H:%M")]
    step = (end - start) / (count - 1)
    ticks = [start + i * step for i in range(count)]
    return ticks, [datetime.fromtimestamp(t, UTC).strftime("%H:%M") for t in ticks]


def plot_caption(plot: PlotData) -> str:
    """Below the plot: the series shown and their peaks, and the marks."""
    parts = [f"{line.label} peak {_num(max(line.ys))}" for line in plot.lines if line.ys]
    for label, ts in plot.marks:
        parts.append(f"│ {label} {datetime.fromtimestamp(ts, UTC).strftime('%H:%M:%S')}")
    return " · ".join(parts) if parts else "no data in the window"


def _num(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def log_line(
    record_ts: datetime, labels: dict[str, str], line: str, spans: list[tuple[int, int]]
) -> Text:
    """``03:01:07 coredns-… [ERROR] …`` with the query's matches highlighted."""
    out = Text()
    out.append(record_ts.astimezone(UTC).strftime("%H:%M:%S "), style="dim")
    who = labels.get("pod") or labels.get("host") or labels.get("app") or ""
    if who:
        out.append(f"{who[:24]} ", style="cyan")
    body = Text(line.replace("\n", " ⏎ "))
    for s, e in spans:
        body.stylize("bold reverse", s, e)
    out.append_text(body)
    return out


def log_lines(detail: LogLines, limit: int = 200) -> list[Text]:
    """Every kept line of a logs evidence, newest last, matches highlighted."""
    return [
        log_line(r.ts, r.labels, r.line, highlight_spans(r.line, detail.filters))
        for r in detail.records[-limit:]
    ]


def counter_rows(detail: CounterDeltas) -> list[tuple[str, str, str, str]]:
    """(counter, first → last, delta, per second) per port, largest delta first."""
    return [
        (r.name, f"{r.first:,} → {r.last:,}", f"+{r.delta:,}", f"{r.per_s:,.1f}/s")
        for r in detail.rows
    ]


def command_text(detail: CommandOutput) -> Text:
    """``node-2$ df -h`` and its output, verbatim."""
    out = Text()
    out.append(f"{detail.host}$ {detail.command}", style="bold")
    out.append(f"   (exit {detail.exit_status})\n", style="dim")
    out.append(detail.stdout)
    if detail.stderr:
        out.append("\n" + detail.stderr, style="red")
    return out


def no_model_banner(d: Diagnosis | None, note: str | None) -> str | None:
    """The banner text when running without a model, else None."""
    if d is not None:
        if d.model.available:
            return None
        note = d.model.note or note
    elif note is None:
        return None
    note = note or "none configured"
    if "baseline" not in note:
        note += "; running on the baseline probes only"
    return f"⚠ No language model — {note}"


def help_rows(bindings: Iterable[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """(where, key, what) rows for the help screen, sorted by place then key."""
    return sorted(set(bindings), key=lambda r: (r[0] != "everywhere", r[0], r[1]))
