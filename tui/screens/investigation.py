"""The investigation screen: specialists at work, the hypotheses board, the evidence."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from agents.models import Diagnosis, Hypothesis
from tui.messages import IncidentUpdated
from tui.render import (
    ROLE_BADGE,
    finding_rows,
    ranked_hypotheses,
    verdict_text,
)
from tui.state import SPECIALIST_ORDER, IncidentEntry
from tui.widgets.evidence_pane import EvidencePane
from tui.widgets.specialist_panel import SpecialistPanel

if TYPE_CHECKING:
    from tui.app import StrataApp


NARROW_WIDTH = 100
"""Below this many columns the specialist panels fold away once the verdict is in."""


def hypothesis_prompt(d: Diagnosis, h: Hypothesis) -> Text:
    """``● ROOT CAUSE 0.99 · by network``, then ``layer/fault/component``, then the reason."""
    badge, style = ROLE_BADGE.get(h.role, (h.role, ""))
    value = d.confidence if h.role == "root_cause" and d.root_cause else h.score
    out = Text()
    out.append(badge, style=style)
    out.append(f" {value:.2f}", style="bold")
    out.append(f" · by {h.by}\n", style="dim")
    out.append(f"  {h.key}/{h.component}", style="bold" if h.role == "root_cause" else "")
    reason = h.reason or ("best-supported explanation" if h.role == "root_cause" else "")
    if reason:
        out.append(f"\n  {reason}", style="italic")
    return out


class InvestigationScreen(Screen[None]):
    """One incident: live specialist panels, then the verdict and its evidence."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Incidents"),
        Binding("n", "next_evidence", "Next evidence"),
        Binding("s", "toggle_specialists", "Specialists"),
        Binding("m", "remediation", "Remediation"),
        Binding("f", "feedback", "Feedback"),
        Binding("y", "confirm", "Right!", show=False),
        Binding("e", "export", "Export"),
        Binding("x", "export_scenario", "Export scenario", show=False),
        Binding("d", "rediagnose", "Re-run", show=False),
    ]

    def __init__(self, key: str) -> None:
        super().__init__(id=f"investigation-{abs(hash(key))}")
        self.key = key
        self._hyp_shown: list[Hypothesis] = []
        self._drawn_diagnosis: Diagnosis | None = None

    @property
    def strata(self) -> StrataApp:
        from tui.app import StrataApp

        assert isinstance(self.app, StrataApp)
        return self.app

    @property
    def entry(self) -> IncidentEntry:
        return self.strata.entries[self.key]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="banner", classes="banner")
        yield Static(id="verdict")
        with Grid(id="specialists"):
            for name in SPECIALIST_ORDER:
                yield SpecialistPanel(name)
        with Horizontal(id="lower"):
            with Vertical(id="board"):
                yield OptionList(id="hypotheses")
                yield OptionList(id="findings")
            yield EvidencePane()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#hypotheses", OptionList).border_title = "hypotheses"
        self.query_one("#findings", OptionList).border_title = "findings"
        self.sub_title = self.key
        self.redraw()
        # Start after the first paint: the screen is on view before the replay competes for CPU.
        self.call_after_refresh(self.strata.start_investigation, self.key)

    # ------------------------------------------------------------------ drawing

    def redraw(self) -> None:
        """Everything from the entry's current state."""
        entry = self.entry
        self.title = f"Strata · {entry.alertname}"
        banner = self.query_one("#banner", Static)
        text = self.strata.banner_text(entry.diagnosis)
        banner.update(text or "")
        banner.display = bool(text)
        for name in SPECIALIST_ORDER:
            self._panel(name)
        self._verdict()
        if entry.diagnosis is not None and entry.diagnosis is not self._drawn_diagnosis:
            self._board(entry.diagnosis)

    def _panel(self, name: str) -> None:
        state = self.entry.specialists.get(name)
        if state is not None:
            self.query_one(f"#specialist-{name}", SpecialistPanel).show(state)

    def _verdict(self) -> None:
        entry = self.entry
        out = Text()
        if entry.diagnosis is not None:
            out = verdict_text(entry.diagnosis)
            if self.strata.show_timings:
                out.append(f"   {entry.diagnosis.timings.total_s:.2f}s", style="dim")
        elif entry.status == "diagnosing":
            running = [s.name for s in entry.specialists.values() if s.status == "investigating"]
            done = sum(1 for s in entry.specialists.values() if s.status == "done")
            out.append("DIAGNOSING  ", style="bold yellow")
            out.append(f"{done}/{len(entry.specialists)} specialists reported")
            if running:
                out.append(f"; working: {', '.join(running)}", style="dim")
        elif entry.error:
            out.append("FAILED  ", style="bold red")
            out.append(entry.error)
        else:
            out.append(f"{entry.status.upper()}  ", style="bold")
            out.append("no report yet", style="dim")
        if entry.diagnosis is not None and entry.diagnosis.unavailable:
            out.append(f"\ncould not see: {'; '.join(entry.diagnosis.unavailable)}", style="dim")
        if entry.feedback:
            out.append(f"\nfeedback: {entry.feedback}", style="italic cyan")
        self.query_one("#verdict", Static).update(out)

    def _board(self, d: Diagnosis) -> None:
        if self._drawn_diagnosis is None and self.size.width < NARROW_WIDTH:
            # On a small terminal the verdict needs the room; ``s`` brings the panels back.
            self.add_class("-specialists-hidden")
        self._drawn_diagnosis = d
        board = self.query_one("#hypotheses", OptionList)
        board.clear_options()
        self._hyp_shown = ranked_hypotheses(d)
        if not self._hyp_shown:
            board.add_option(
                Option(
                    Text("no hypotheses: no layer found abnormal evidence", style="dim"),
                    disabled=True,
                )
            )
        for i, h in enumerate(self._hyp_shown):
            board.add_option(Option(hypothesis_prompt(d, h), id=f"h{i}"))
        self._findings(self._hyp_shown[0] if self._hyp_shown else None)
        if self._hyp_shown:
            board.highlighted = 0

    def _findings(self, h: Hypothesis | None) -> None:
        d = self.entry.diagnosis
        if d is None:
            return
        box = self.query_one("#findings", OptionList)
        box.clear_options()
        rows = finding_rows(d)
        if h is not None:
            keep = set(h.findings)
            rows = [r for r in rows if r[0] in keep] + [r for r in rows if r[0] not in keep]
            box.border_title = f"findings · {h.key} first"
        for fid, line in rows:
            box.add_option(Option(line, id=fid))
        if rows:
            box.highlighted = 0
            self._show_finding(rows[0][0])
        else:
            self._show_finding(None)

    def _show_finding(self, fid: str | None) -> None:
        d = self.entry.diagnosis
        pane = self.query_one(EvidencePane)
        if d is None or fid is None:
            pane.show_finding(None, [], {})
            return
        finding = next((f for f in d.findings if f.id == fid), None)
        if finding is None:
            return
        evidence = [e for e in d.evidence if e.id in finding.evidence]
        pane.show_finding(finding, evidence, self.entry.details)

    # ------------------------------------------------------------------ events

    def on_incident_updated(self, message: IncidentUpdated) -> None:
        if message.key != self.key:
            return
        if message.who and message.who in SPECIALIST_ORDER:
            self._panel(message.who)
            self._verdict()
        else:
            self.redraw()

    @on(OptionList.OptionHighlighted, "#hypotheses")
    def _hypothesis(self, event: OptionList.OptionHighlighted) -> None:
        idx = event.option_index
        if 0 <= idx < len(self._hyp_shown):
            self._findings(self._hyp_shown[idx])

    @on(OptionList.OptionHighlighted, "#findings")
    def _finding(self, event: OptionList.OptionHighlighted) -> None:
        self._show_finding(event.option.id)

    # ------------------------------------------------------------------ actions

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_toggle_specialists(self) -> None:
        self.toggle_class("-specialists-hidden")

    def action_next_evidence(self) -> None:
        self.query_one(EvidencePane).next_evidence()

    def action_remediation(self) -> None:
        self.strata.open_remediation(self.key)

    def action_feedback(self) -> None:
        self.strata.open_feedback(self.key)

    def action_confirm(self) -> None:
        self.strata.confirm_diagnosis(self.key)

    def action_export(self) -> None:
        self.strata.export_report(self.key)

    def action_export_scenario(self) -> None:
        self.strata.export_labelled(self.key)

    def action_rediagnose(self) -> None:
        self.strata.start_investigation(self.key, force=True)
