"""``?``: every key binding of the App and of the screen underneath."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from tui.render import help_rows


def binding_rows(place: str, bindings: Iterable[BindingType]) -> list[tuple[str, str, str]]:
    """(place, key, description) for each described binding."""
    out = []
    for b in bindings:
        if isinstance(b, Binding) and b.description:
            keys = ", ".join(k.strip() for k in b.key.split(","))
            out.append((place, keys, b.description))
        elif isinstance(b, tuple) and len(b) >= 3 and b[2]:
            out.append((place, str(b[0]), str(b[2])))
    return out


class HelpScreen(ModalScreen[None]):
    """A table of bindings."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.rows = help_rows(rows)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Keys", classes="title")
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)
            yield Static(
                "Ctrl+P opens the command palette. Strata never changes your systems.",
                classes="hint",
            )

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("where", "key", "what")
        for row in self.rows:
            table.add_row(*row)

    def action_close(self) -> None:
        self.dismiss(None)
