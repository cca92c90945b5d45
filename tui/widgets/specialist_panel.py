"""One specialist's live panel: its status in the border, its findings and probes below."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.render import event_line, specialist_title
from tui.state import SpecialistState


class SpecialistPanel(VerticalScroll):
    """Shows a :class:`SpecialistState`; call :meth:`show` whenever it changes."""

    DEFAULT_CSS = """
    SpecialistPanel {
        border: round $panel-lighten-2;
        border-title-color: $text;
        height: 1fr;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    SpecialistPanel.-investigating { border: round $warning; }
    SpecialistPanel.-done { border: round $success 60%; }
    SpecialistPanel.-found { border: round $error; }
    SpecialistPanel > Static { width: 1fr; }
    SpecialistPanel > .probes { text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, name: str) -> None:
        super().__init__(id=f"specialist-{name}", classes="specialist")
        self.specialist = name
        self.border_title = f"· {name}  waiting"
        self.can_focus = True

    def compose(self) -> ComposeResult:
        yield Static(Text("waiting", style="dim"), classes="found")
        yield Static(classes="probes")

    def show(self, state: SpecialistState) -> None:
        """Redraw from ``state`` (cheap: a few dozen lines)."""
        self.border_title = specialist_title(state)
        self.set_class(state.status == "investigating", "-investigating")
        self.set_class(state.status == "done" and state.findings == 0, "-done")
        self.set_class(state.status == "done" and state.findings > 0, "-found")
        found = [event_line(e) for e in state.events if e.kind == "finding"]
        probes = [event_line(e) for e in state.events if e.kind != "finding"]
        head = (
            Text("\n").join(found)
            if found
            else Text("nothing abnormal" if state.status == "done" else state.status, style="dim")
        )
        self.query_one(".found", Static).update(head)
        self.query_one(".probes", Static).update(Text("\n").join(probes))
