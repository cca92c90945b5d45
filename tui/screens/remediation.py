"""The remediation pane: suggested steps with their risk; copy, approve, mark done.

Marks are recorded (in the feedback store and the exported report). Nothing is executed.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from agents.models import Remediation
from tui.state import RemediationMark

MARK_STYLE = {"approved": ("✔ approved", "bold cyan"), "done": ("✔ done", "bold green")}


def step_prompt(index: int, step: Remediation, mark: RemediationMark | None) -> Text:
    """``1. action`` / ``risk: …`` / the mark, if any."""
    out = Text()
    out.append(f"{index + 1}. ", style="bold")
    out.append(step.action)
    out.append("\n   risk: ", style="yellow")
    out.append(step.risk, style="italic")
    if mark is not None:
        label, style = MARK_STYLE[mark.state]
        out.append(f"\n   {label} {mark.at:%Y-%m-%d %H:%M} UTC", style=style)
    return out


class RemediationScreen(ModalScreen[None]):
    """Suggested next steps of one diagnosis."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,m", "close", "Close"),
        Binding("c", "copy", "Copy"),
        Binding("a", "mark('approved')", "Approve"),
        Binding("D", "mark('done')", "Mark done"),
    ]

    def __init__(
        self, key: str, steps: tuple[Remediation, ...], marks: dict[int, RemediationMark]
    ) -> None:
        super().__init__()
        self.key = key
        self.steps = steps
        self.marks = marks

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(
                "Suggested next steps — each requires approval; Strata executes nothing",
                classes="title",
            )
            yield OptionList(id="steps")
            yield Static("c copy · a approve · D mark done · Esc close", classes="hint")

    def on_mount(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        box = self.query_one("#steps", OptionList)
        keep = box.highlighted
        box.clear_options()
        if not self.steps:
            box.add_option(
                Option(Text("No suggested steps for this diagnosis.", style="dim"), disabled=True)
            )
            return
        for i, step in enumerate(self.steps):
            box.add_option(Option(step_prompt(i, step, self.marks.get(i)), id=f"s{i}"))
        box.highlighted = keep if keep is not None else 0

    def _index(self) -> int | None:
        box = self.query_one("#steps", OptionList)
        if not self.steps or box.highlighted is None:
            return None
        return box.highlighted

    def action_copy(self) -> None:
        i = self._index()
        if i is None:
            return
        self.app.copy_to_clipboard(self.steps[i].action)
        self.notify(f"Step {i + 1} copied to the clipboard", timeout=3)

    def action_mark(self, state: Literal["done", "approved"]) -> None:
        from tui.app import StrataApp

        i = self._index()
        if i is None or not isinstance(self.app, StrataApp):
            return
        self.app.mark_remediation(self.key, i, state)
        self.redraw()

    def action_close(self) -> None:
        self.dismiss(None)
