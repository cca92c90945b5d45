"""An error shown as a modal: a failing source never takes the App down."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class ErrorScreen(ModalScreen[None]):
    """Title and message; any of Enter, Escape or ``q`` closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "dismiss_error", "Close"),
    ]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.error_title = title
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(f"✗ {self.error_title}", style="bold red"), classes="title")
            with VerticalScroll(id="message"):
                yield Static(Text(self.message))
            yield Static(
                "Enter or Esc closes this; the rest of Strata keeps running.", classes="hint"
            )

    def action_dismiss_error(self) -> None:
        self.dismiss(None)
