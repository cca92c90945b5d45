"""Feedback: confirm the diagnosis, or give the actual layer, fault and component."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from tools.vocabulary import FAULTS, LAYERS


@dataclass(frozen=True)
class FeedbackAnswer:
    """What the operator said."""

    correct: bool
    layer: str
    fault: str
    component: str
    note: str


class FeedbackScreen(ModalScreen[FeedbackAnswer | None]):
    """``y`` confirms; otherwise pick layer and fault, name the component, save."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save correction"),
    ]

    def __init__(self, predicted: tuple[str, str, str] | None) -> None:
        super().__init__()
        self.predicted = predicted

    def compose(self) -> ComposeResult:
        layer, fault, component = self.predicted or (LAYERS[0], FAULTS[LAYERS[0]][0], "")
        said = "/".join(self.predicted) if self.predicted else "no root cause"
        with Vertical(classes="dialog"):
            yield Static(
                Text.assemble(("Was it right? ", "bold"), f"Strata said {said}."), classes="title"
            )
            yield Select([(x, x) for x in LAYERS], value=layer, allow_blank=False, id="fb-layer")
            yield Select(
                [(x, x) for x in FAULTS[layer]], value=fault, allow_blank=False, id="fb-fault"
            )
            yield Input(
                value=component,
                placeholder="component (node, device, pod, service)",
                id="fb-component",
            )
            yield Input(placeholder="note (optional): what really happened", id="fb-note")
            with Horizontal(id="fb-buttons"):
                yield Button(
                    "It was right",
                    variant="success",
                    id="fb-right",
                    disabled=self.predicted is None,
                )
                yield Button("Save correction", variant="primary", id="fb-save")
                yield Button("Cancel", id="fb-cancel")
            yield Static(
                "Stored with the incident; exportable as a labelled scenario.", classes="hint"
            )

    @on(Select.Changed, "#fb-layer")
    def _layer(self, event: Select.Changed) -> None:
        faults = FAULTS.get(str(event.value), ())
        box = self.query_one("#fb-fault", Select)
        box.set_options([(x, x) for x in faults])
        if faults:
            box.value = faults[0]

    def _answer(self, correct: bool) -> FeedbackAnswer:
        if correct and self.predicted is not None:
            layer, fault, component = self.predicted
        else:
            layer = str(self.query_one("#fb-layer", Select).value)
            fault = str(self.query_one("#fb-fault", Select).value)
            component = self.query_one("#fb-component", Input).value.strip()
        note = self.query_one("#fb-note", Input).value.strip()
        return FeedbackAnswer(correct, layer, fault, component, note)

    @on(Button.Pressed, "#fb-right")
    def _right(self) -> None:
        self.dismiss(self._answer(True))

    @on(Button.Pressed, "#fb-save")
    def _save(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#fb-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        answer = self._answer(False)
        if not answer.component:
            self.notify("Name the broken component first.", severity="error")
            self.query_one("#fb-component", Input).focus()
            return
        if (
            self.predicted is not None
            and (answer.layer, answer.fault, answer.component) == self.predicted
        ):
            answer = FeedbackAnswer(True, answer.layer, answer.fault, answer.component, answer.note)
        self.dismiss(answer)

    def action_cancel(self) -> None:
        self.dismiss(None)
