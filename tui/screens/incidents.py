"""The incidents screen: every alert/incident with its status and verdict, filterable."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from tui.messages import IncidentsChanged, IncidentUpdated
from tui.render import INCIDENT_COLUMNS, filter_entries, incident_row

if TYPE_CHECKING:
    from tui.app import StrataApp


class IncidentsScreen(Screen[None]):
    """A table of incidents; Enter opens one, ``/`` filters."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", priority=False),
        Binding("slash", "filter", "Filter"),
        Binding("d", "diagnose", "Diagnose"),
        Binding("D", "diagnose_all", "Diagnose all", show=False),
        Binding("r", "refresh", "Refresh"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    @property
    def strata(self) -> StrataApp:
        from tui.app import StrataApp

        assert isinstance(self.app, StrataApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="banner", classes="banner")
        yield Input(placeholder="filter: words in name, severity, status, root cause", id="filter")
        yield DataTable(id="incidents", cursor_type="row", zebra_stripes=True)
        yield Static(id="incidents-status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#incidents", DataTable)
        for label in INCIDENT_COLUMNS:
            table.add_column(label, key=label)
        self.query_one("#filter", Input).display = False
        self.refresh_banner()
        self.reload()
        table.focus()

    def refresh_banner(self) -> None:
        """Show or hide the no-model banner."""
        banner = self.query_one("#banner", Static)
        text = self.strata.banner_text()
        banner.update(text or "")
        banner.display = bool(text)

    def reload(self) -> None:
        """Rebuild the table from the App's incidents, keeping the cursor on its row."""
        table = self.query_one("#incidents", DataTable)
        current = None
        if table.row_count and table.cursor_row < table.row_count:
            current = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        text = self.query_one("#filter", Input).value
        shown = filter_entries(self.strata.entries.values(), text)
        table.clear()
        for entry in shown:
            table.add_row(*incident_row(entry), key=entry.key)
        if current is not None:
            keys = [e.key for e in shown]
            if current in keys:
                table.move_cursor(row=keys.index(current))
        total = len(self.strata.entries)
        status = f"{self.strata.provider.description} · {len(shown)} of {total} incidents"
        if text:
            status += f" · filter: {text!r}"
        self.query_one("#incidents-status", Static).update(status)

    def on_incidents_changed(self, _message: IncidentsChanged) -> None:
        self.refresh_banner()
        self.reload()

    def on_incident_updated(self, message: IncidentUpdated) -> None:
        if message.who:
            return
        entry = self.strata.entries.get(message.key)
        table = self.query_one("#incidents", DataTable)
        if entry is None or message.key not in table.rows:
            return
        for column, cell in zip(INCIDENT_COLUMNS, incident_row(entry), strict=True):
            table.update_cell(message.key, column, cell)
        self.refresh_banner()

    def _selected(self) -> str | None:
        table = self.query_one("#incidents", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    @on(DataTable.RowSelected, "#incidents")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.strata.open_incident(event.row_key.value)

    def action_open(self) -> None:
        key = self._selected()
        if key is not None:
            self.strata.open_incident(key)

    def action_diagnose(self) -> None:
        key = self._selected()
        if key is not None:
            self.strata.start_investigation(key, force=True)

    def action_diagnose_all(self) -> None:
        self.strata.diagnose_all()

    def action_refresh(self) -> None:
        self.strata.load_incidents()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self.query_one("#incidents", DataTable).focus()
        self.reload()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, _event: Input.Changed) -> None:
        self.reload()

    @on(Input.Submitted, "#filter")
    def _filter_done(self, _event: Input.Submitted) -> None:
        self.query_one("#incidents", DataTable).focus()
