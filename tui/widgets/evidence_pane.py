"""The evidence pane: what the selected finding rests on, shown as a plot, log lines,
counter deltas or command output (see :mod:`tui.evidence`)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import ContentSwitcher, DataTable, Static
from textual_plotext import PlotextPlot

from agents.models import Evidence, Finding
from tui.evidence import (
    CommandOutput,
    CounterDeltas,
    EvidenceDetail,
    LogLines,
    PlotData,
    Unavailable,
)
from tui.render import command_text, counter_rows, log_lines, plot_caption, time_ticks

PLOT_COLORS = ("red+", "cyan+", "yellow+", "green+", "magenta+", "blue+")


class EvidencePane(Vertical):
    """Shows one piece of evidence of one finding; ``n`` steps to the finding's next one."""

    DEFAULT_CSS = """
    EvidencePane { border: round $panel-lighten-2; padding: 0 1; }
    EvidencePane:focus-within { border: round $accent; }
    EvidencePane #ev-head { height: auto; max-height: 4; }
    EvidencePane ContentSwitcher { height: 1fr; }
    EvidencePane #ev-plot-box { height: 1fr; }
    EvidencePane #ev-plot { height: 1fr; min-height: 6; }
    EvidencePane #ev-caption { height: auto; max-height: 2; color: $text-muted; }
    EvidencePane #ev-table { height: 1fr; }
    EvidencePane #ev-text { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__(id="evidence")
        self.border_title = "evidence"
        self._evidence: list[Evidence] = []
        self._details: dict[str, EvidenceDetail] = {}
        self._index = 0

    def compose(self) -> ComposeResult:
        yield Static(Text("Select a finding to see its evidence.", style="dim"), id="ev-head")
        with ContentSwitcher(initial="ev-text"):
            with Vertical(id="ev-plot-box"):
                yield PlotextPlot(id="ev-plot")
                yield Static(id="ev-caption")
            yield DataTable(id="ev-table", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="ev-text"):
                yield Static(id="ev-body")

    @property
    def current(self) -> Evidence | None:
        """The evidence on show."""
        return self._evidence[self._index] if self._evidence else None

    def show_finding(
        self,
        finding: Finding | None,
        evidence: Sequence[Evidence],
        details: dict[str, EvidenceDetail],
    ) -> None:
        """Show ``finding``'s first evidence with the richest detail."""
        self._details = details
        self._evidence = list(evidence)
        richness = {PlotData: 0, CounterDeltas: 1, LogLines: 2, CommandOutput: 3}
        self._evidence.sort(key=lambda e: richness.get(type(details.get(e.id)), 9))
        self._index = 0
        self.border_title = f"evidence · {finding.id}" if finding else "evidence"
        self._draw()

    def next_evidence(self) -> None:
        """Step to the finding's next piece of evidence."""
        if len(self._evidence) > 1:
            self._index = (self._index + 1) % len(self._evidence)
            self._draw()

    def _draw(self) -> None:
        ev = self.current
        head = self.query_one("#ev-head", Static)
        switcher = self.query_one(ContentSwitcher)
        body = self.query_one("#ev-body", Static)
        if ev is None:
            head.update(Text("Select a finding to see its evidence.", style="dim"))
            body.update("")
            switcher.current = "ev-text"
            return
        text = Text()
        text.append(f"{ev.id} ", style="bold")
        text.append(f"{ev.source} ", style="cyan")
        text.append(f"[{ev.status}] ", style="green" if ev.status == "ok" else "yellow")
        if len(self._evidence) > 1:
            text.append(f"({self._index + 1}/{len(self._evidence)}, n: next) ", style="dim")
        text.append(ev.query)
        head.update(text)
        detail = self._details.get(ev.id)
        if isinstance(detail, PlotData) and detail.lines:
            switcher.current = "ev-plot-box"
            self._plot(detail)
            self.query_one("#ev-caption", Static).update(plot_caption(detail))
        elif isinstance(detail, CounterDeltas):
            switcher.current = "ev-table"
            table = self.query_one("#ev-table", DataTable)
            table.clear(columns=True)
            table.add_columns(f"counter @ {detail.device}", "first → last", "delta", "rate")
            for row in counter_rows(detail):
                table.add_row(*row)
        else:
            switcher.current = "ev-text"
            body.update(self._text(ev, detail))

    @staticmethod
    def _text(ev: Evidence, detail: EvidenceDetail | None) -> Text:
        if isinstance(detail, LogLines):
            lines = log_lines(detail)
            if lines:
                return Text("\n").join(lines)
        if isinstance(detail, CommandOutput):
            return command_text(detail)
        out = Text(ev.excerpt.replace(" ⏎ ", "\n"))
        if isinstance(detail, Unavailable):
            out.append(f"\n\n(no more detail: {detail.reason})", style="dim italic")
        return out

    def _plot(self, data: PlotData) -> None:
        widget = self.query_one("#ev-plot", PlotextPlot)
        plt = widget.plt
        plt.clear_figure()
        several = len(data.lines) > 1
        for line, color in zip(data.lines, PLOT_COLORS, strict=False):
            plt.plot(
                list(line.xs),
                list(line.ys),
                label=line.label[:30] if several else None,
                color=color,
                marker="braille",
            )
        for _label, ts in data.marks:
            plt.vline(ts, "orange")
        ticks, labels = time_ticks(data.start, data.end)
        # A tick on the very edge is drawn or not depending on float rounding: leave it out.
        plt.xticks(ticks[:-1], labels[:-1])
        plt.xlim(data.start, data.end)
        widget.refresh()
