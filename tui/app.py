"""The Strata terminal UI: incidents, live investigations, verdicts and their evidence.

The App owns the incidents' state (:mod:`tui.state`) and runs all I/O in workers:
loading incidents, resolving the model, and each investigation (the coordinator runs as
an async worker on the App's loop, so input stays responsive; its ``progress`` events
update the state and post small messages to the screens). Any failure of a source or a
worker opens an error modal; the App keeps running. Nothing here changes a site: the
remediation pane only records marks, and feedback goes to a local SQLite store.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from agents.llm import ModelHandle, ModelSpecError, resolve
from agents.models import Diagnosis
from tools.alertmanager.webhook import GO_ZERO_TIME
from tui.feedback import FeedbackError, FeedbackStore, data_dir, export_scenario, scenario_id
from tui.messages import IncidentsChanged, IncidentUpdated
from tui.providers import Investigation, Provider, ProviderError
from tui.reports import write_report
from tui.screens.error import ErrorScreen
from tui.screens.feedback import FeedbackAnswer, FeedbackScreen
from tui.screens.help import HelpScreen, binding_rows
from tui.screens.incidents import IncidentsScreen
from tui.screens.investigation import InvestigationScreen
from tui.screens.remediation import RemediationScreen
from tui.state import IncidentEntry, RemediationMark

THEMES = {"dark": "textual-dark", "light": "textual-light"}
REDRAW_S = 0.05
"""Specialist panels are redrawn at most this often while events stream in."""


def alert_json(entry: IncidentEntry) -> str:
    """The entry's webhook body as Alertmanager would POST it (``endsAt`` zero if firing)."""
    if entry.alert is None:
        return json.dumps(
            {
                "version": "4",
                "status": "firing",
                "receiver": "strata",
                "groupLabels": {},
                "commonLabels": {"alertname": entry.alertname},
                "commonAnnotations": {},
                "externalURL": "",
                "groupKey": entry.key,
                "truncatedAlerts": 0,
                "alerts": [
                    {
                        "status": "firing",
                        "labels": {"alertname": entry.alertname},
                        "annotations": {},
                        "startsAt": (entry.since or datetime.now(UTC)).isoformat(),
                        "endsAt": GO_ZERO_TIME,
                        "generatorURL": "",
                        "fingerprint": "",
                    }
                ],
            }
        )
    data: dict[str, Any] = entry.alert.model_dump(mode="json", by_alias=True)
    for alert in data["alerts"]:
        if alert.get("endsAt") is None:
            alert["endsAt"] = GO_ZERO_TIME
    return json.dumps(data)


class StrataApp(App[None]):
    """``strata tui``."""

    # Each screen's stylesheet lives beside it; all are parsed once at start-up, so that
    # opening a screen later costs no CSS parsing while an investigation is running.
    CSS_PATH = [  # noqa: RUF012 (as Textual declares it)
        "app.tcss",
        "screens/incidents.tcss",
        "screens/investigation.tcss",
        "screens/modals.tcss",
    ]
    TITLE = "Strata"
    SUB_TITLE = "layered incident diagnosis · never changes your systems"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("ctrl+t", "toggle_theme", "Light/dark", show=False),
    ]
    HORIZONTAL_BREAKPOINTS = [  # noqa: RUF012 (Textual declares it a plain class attribute)
        (0, "-narrow"),
        (100, "-wide"),
    ]

    def __init__(
        self,
        provider: Provider,
        *,
        model_spec: str = "auto",
        store: FeedbackStore | None = None,
        reports_dir: Path | None = None,
        theme: Literal["dark", "light"] = "dark",
        show_timings: bool = True,
        open_single: bool = True,
        poll_s: float | None = None,
    ) -> None:
        """
        Args:
            provider: where incidents come from.
            model_spec: ``none``, ``auto`` or ``ollama:NAME`` (agents.llm.resolve).
            store: the feedback store (default: the user's data directory).
            reports_dir: where exports go (default: ``<data dir>/reports``).
            theme: the starting theme.
            show_timings: show wall-clock figures (tests turn them off to stay stable).
            open_single: open the investigation straight away when there is one incident.
            poll_s: reload incidents this often (server and live modes); None: only on ``r``.
        """
        super().__init__()
        self.provider = provider
        self.model_spec = model_spec
        self._store = store
        self.reports_dir = reports_dir
        self.show_timings = show_timings
        self.open_single = open_single
        self.poll_s = poll_s
        self.entries: dict[str, IncidentEntry] = {}
        self.model: ModelHandle | None = None
        self._first_load = True
        self.theme = THEMES[theme]

    # ------------------------------------------------------------------ lifecycle

    def on_mount(self) -> None:
        self.push_screen(IncidentsScreen())
        self.load_incidents()
        if self.poll_s:
            self.set_interval(self.poll_s, self.load_incidents)

    @property
    def store(self) -> FeedbackStore:
        """The feedback store, opened on first use.

        Raises:
            FeedbackError: it cannot be opened.
        """
        if self._store is None:
            self._store = FeedbackStore()
        return self._store

    def show_error(self, title: str, message: str) -> None:
        """Open an error modal (never raises, never exits)."""
        self.push_screen(ErrorScreen(title, message))

    def broadcast(self, message_factory: Any) -> None:
        """Post a fresh message (from ``message_factory()``) to every screen on the stack."""
        for screen in self.screen_stack:
            screen.post_message(message_factory())

    def banner_text(self, diagnosis: Diagnosis | None = None) -> str | None:
        """The no-model banner for the current state, or None."""
        from tui.render import no_model_banner

        if diagnosis is not None:
            return no_model_banner(diagnosis, None)
        if self.model is None:
            return None
        if self.model.use.available:
            return None
        return no_model_banner(None, self.model.use.note or "none")

    # ------------------------------------------------------------------ workers

    def load_incidents(self) -> None:
        """(Re)load the incident list in a worker."""
        self.run_worker(self._load(), group="load", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        try:
            # Listing may parse recordings (scenarios): off the UI's loop, like investigations.
            fresh = await asyncio.to_thread(asyncio.run, self.provider.incidents())
        except ProviderError as exc:
            self.show_error(exc.title, str(exc))
            return
        except Exception as exc:  # a source's unexpected failure must not end the App
            self.log.error("loading incidents failed", exc)
            self.show_error("Loading incidents failed", f"{type(exc).__name__}: {exc}")
            return
        for entry in fresh:
            old = self.entries.get(entry.key)
            if old is None:
                self.entries[entry.key] = entry
            elif old.diagnosis is None and old.status not in ("diagnosing",):
                old.status, old.root_cause, old.confidence = (
                    entry.status,
                    entry.root_cause,
                    entry.confidence,
                )
        self._restore_marks()
        self.broadcast(IncidentsChanged)
        if self._first_load and self.open_single and len(self.entries) == 1:
            self.open_incident(next(iter(self.entries)))
        self._first_load = False

    def _restore_marks(self) -> None:
        """Bring back remediation marks and feedback stored in earlier sessions."""
        try:
            store = self.store
            for key, entry in self.entries.items():
                for index, (state, at) in store.marks(key).items():
                    if state in ("done", "approved"):
                        entry.marks[index] = RemediationMark(index, state, at)  # type: ignore[arg-type]
                fb = store.latest(key)
                if fb is not None:
                    entry.feedback = _feedback_line(fb.correct, fb.label, fb.created_at)
        except FeedbackError as exc:
            self.notify(str(exc), severity="warning", timeout=6)

    def _model_resolved(self, model: ModelHandle) -> None:
        """Keep what the last investigation's model resolution said (for the banner)."""
        first = self.model is None
        self.model = model
        if first:
            self.broadcast(IncidentsChanged)

    def start_investigation(self, key: str, *, force: bool = False) -> None:
        """Investigate ``key`` in a worker unless it is running or done (``force``: re-run)."""
        entry = self.entries.get(key)
        if entry is None or entry.status == "diagnosing":
            return
        if entry.diagnosis is not None and not force:
            return
        if entry.status == "failed" and entry.error and entry.scenario_path and not force:
            return
        self.run_worker(
            self._investigate(entry),
            group="investigate",
            name=f"investigate {key}",
            exit_on_error=False,
        )

    async def _investigate(self, entry: IncidentEntry) -> None:
        key = entry.key
        previous = entry.status
        entry.reset_investigation()
        if self.provider.streams:
            entry.status = "diagnosing"
        self.broadcast(lambda: IncidentUpdated(key))

        ui_loop = asyncio.get_running_loop()

        pending: set[str] = set()

        def flush() -> None:
            for who in sorted(pending):
                self.broadcast(lambda who=who: IncidentUpdated(key, who))
            pending.clear()

        def apply(who: str, message: str) -> None:
            entry.apply(who, message)
            if not pending:  # redraw at most every REDRAW_S, however fast events come
                self.set_timer(REDRAW_S, flush)
            pending.add(who)

        def progress(who: str, message: str) -> None:  # called on the investigation's thread
            ui_loop.call_soon_threadsafe(apply, who, message)

        async def investigate() -> Investigation | None:
            model = await resolve(self.model_spec)
            ui_loop.call_soon_threadsafe(self._model_resolved, model)
            return await self.provider.investigate(entry, model, progress)

        try:
            # The investigation gets a thread and an event loop of its own: whatever it
            # does synchronously (parsing recordings, reconciling) never stalls input.
            result = await asyncio.to_thread(asyncio.run, investigate())
        except (ProviderError, ModelSpecError) as exc:
            entry.status, entry.error = "failed", str(exc)
            self.show_error(getattr(exc, "title", "Investigation failed"), str(exc))
        except Exception as exc:  # a failing source never kills the App
            self.log.error("investigation failed", exc)
            entry.status, entry.error = "failed", f"{type(exc).__name__}: {exc}"
            self.show_error("Investigation failed", entry.error)
        else:
            if result is None:
                if not self.provider.streams and entry.status == "diagnosing":
                    pass
                elif entry.status == "diagnosing":
                    entry.status = previous
            else:
                entry.finish(result.diagnosis, result.details)
        entry.finished += 1
        self.broadcast(lambda: IncidentUpdated(key))

    # ------------------------------------------------------------------ navigation

    def open_incident(self, key: str) -> None:
        """Show ``key``'s investigation; the screen starts it once drawn, if it has not run."""
        if key not in self.entries:
            return
        self.push_screen(InvestigationScreen(key))

    def open_remediation(self, key: str) -> None:
        entry = self.entries[key]
        if entry.diagnosis is None:
            self.notify("No diagnosis yet: nothing to suggest.", timeout=3)
            return
        self.push_screen(RemediationScreen(key, entry.diagnosis.remediation, entry.marks))

    def mark_remediation(self, key: str, index: int, state: Literal["done", "approved"]) -> None:
        """Record a mark on a step (in the store and the report). Nothing is executed."""
        entry = self.entries[key]
        if entry.diagnosis is None or index >= len(entry.diagnosis.remediation):
            return
        now = datetime.now(UTC)
        try:
            self.store.mark(key, index, entry.diagnosis.remediation[index].action, state, now=now)
        except FeedbackError as exc:
            self.show_error(exc.title, str(exc))
            return
        entry.marks[index] = RemediationMark(index, state, now)
        self.notify(
            f"Step {index + 1} marked {state} (recorded; Strata executes nothing)", timeout=3
        )

    # ------------------------------------------------------------------ feedback

    def open_feedback(self, key: str) -> None:
        entry = self.entries[key]
        d = entry.diagnosis
        if d is None:
            self.notify("No diagnosis yet to give feedback on.", timeout=3)
            return
        rc = d.root_cause
        predicted = (rc.layer, rc.fault, rc.component) if rc else None

        def done(answer: FeedbackAnswer | None) -> None:
            if answer is not None:
                self.save_feedback(key, answer)

        self.push_screen(FeedbackScreen(predicted), done)

    def confirm_diagnosis(self, key: str) -> None:
        """``y``: the diagnosis was right."""
        d = self.entries[key].diagnosis
        if d is None or d.root_cause is None:
            self.notify("Nothing to confirm yet.", timeout=3)
            return
        rc = d.root_cause
        self.save_feedback(key, FeedbackAnswer(True, rc.layer, rc.fault, rc.component, ""))

    def save_feedback(self, key: str, answer: FeedbackAnswer) -> None:
        """Store the operator's answer with the incident."""
        entry = self.entries[key]
        d = entry.diagnosis
        if d is None:
            return
        rc = d.root_cause
        window_start = entry.window_start or min(
            entry.since or d.incident.observed_at, d.incident.observed_at
        )
        try:
            fb = self.store.record(
                incident_key=key,
                origin=entry.origin,
                alertname=entry.alertname,
                correct=answer.correct,
                layer=answer.layer,
                fault=answer.fault,
                component=answer.component,
                note=answer.note,
                predicted=f"{rc.layer}/{rc.fault}/{rc.component}" if rc else None,
                observed_at=d.incident.observed_at,
                window_start=window_start,
                alert_json=alert_json(entry),
                diagnosis_json=d.to_json(indent=None),
                scenario_path=str(entry.scenario_path) if entry.scenario_path else None,
            )
        except FeedbackError as exc:
            self.show_error(exc.title, str(exc))
            return
        entry.feedback = _feedback_line(fb.correct, fb.label, fb.created_at)
        self.notify(f"Feedback stored: {entry.feedback}", timeout=4)
        self.broadcast(lambda: IncidentUpdated(key))

    # ------------------------------------------------------------------ exports

    def _reports_dir(self) -> Path:
        return self.reports_dir or data_dir() / "reports"

    def export_report(self, key: str) -> None:
        """Write the Markdown and JSON reports of ``key``."""
        entry = self.entries[key]
        if entry.diagnosis is None:
            self.notify("No report yet to export.", timeout=3)
            return
        try:
            md, js = write_report(entry, entry.diagnosis, self._reports_dir())
        except OSError as exc:
            self.show_error("Export failed", str(exc))
            return
        self.notify(f"Report written: {md} and {js.name}", timeout=6)

    def export_labelled(self, key: str) -> None:
        """Write ``key``'s feedback as a labelled format-v1 scenario."""
        try:
            fb = self.store.latest(key)
            if fb is None:
                self.notify("Give feedback first (f or y): it becomes the ground truth.", timeout=4)
                return
            out = export_scenario(fb, self._reports_dir().parent / "scenarios" / scenario_id(fb))
        except FeedbackError as exc:
            self.show_error(exc.title, str(exc))
            return
        self.notify(f"Labelled scenario written: {out}", timeout=6)

    def export_all_labelled(self) -> None:
        """Every stored feedback as a labelled scenario (skipping ones already exported)."""
        written = 0
        try:
            for fb in self.store.all():
                out = self._reports_dir().parent / "scenarios" / scenario_id(fb)
                if out.exists():
                    continue
                export_scenario(fb, out)
                written += 1
        except FeedbackError as exc:
            self.show_error(exc.title, str(exc))
            return
        self.notify(f"{written} labelled scenario(s) written", timeout=5)

    # ------------------------------------------------------------------ actions

    def action_help(self) -> None:
        rows = binding_rows("everywhere", self.BINDINGS)
        screen: Screen[Any] = self.screen
        for s in self.screen_stack:
            if isinstance(s, IncidentsScreen | InvestigationScreen):
                screen = s
        place = "incidents" if isinstance(screen, IncidentsScreen) else "investigation"
        rows += binding_rows(place, type(screen).BINDINGS)
        if isinstance(screen, InvestigationScreen):
            rows += binding_rows("remediation", RemediationScreen.BINDINGS)
        rows.append(("everywhere", "ctrl+p", "Command palette"))
        rows.append(("everywhere", "tab, shift+tab", "Next/previous pane"))
        self.push_screen(HelpScreen(rows))

    def action_toggle_theme(self) -> None:
        self.theme = THEMES["light"] if self.theme == THEMES["dark"] else THEMES["dark"]

    def diagnose_all(self) -> None:
        """Start an investigation for every queued incident."""
        for key, entry in self.entries.items():
            if entry.status == "queued":
                self.start_investigation(key)

    def _current_key(self) -> str | None:
        for s in reversed(self.screen_stack):
            if isinstance(s, InvestigationScreen):
                return s.key
        return None

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help: keys", "Every key binding", self.action_help)
        yield SystemCommand(
            "Theme: light/dark", "Switch between the light and dark theme", self.action_toggle_theme
        )
        yield SystemCommand(
            "Incidents: reload", "Ask the source for its incidents again", self.load_incidents
        )
        yield SystemCommand(
            "Incidents: diagnose all queued",
            "Start an investigation for every queued incident",
            self.diagnose_all,
        )
        yield SystemCommand(
            "Feedback: export every labelled scenario",
            "Write each stored answer as a format-v1 scenario with ground truth",
            self.export_all_labelled,
        )
        key = self._current_key()
        if key is not None:
            yield SystemCommand(
                "Report: export Markdown and JSON",
                "Write this incident's report",
                lambda: self.export_report(key),
            )
            yield SystemCommand(
                "Remediation: show steps",
                "Suggested steps, their risk, marks",
                lambda: self.open_remediation(key),
            )
            yield SystemCommand(
                "Feedback: correct or confirm",
                "Give the actual layer/fault/component",
                lambda: self.open_feedback(key),
            )
            yield SystemCommand(
                "Feedback: export as labelled scenario",
                "This incident's answer as a scenario",
                lambda: self.export_labelled(key),
            )
            yield SystemCommand(
                "Investigation: re-run",
                "Diagnose this incident again",
                lambda: self.start_investigation(key, force=True),
            )


def _feedback_line(correct: bool, label: str, at: datetime) -> str:
    what = "confirmed" if correct else "corrected to"
    return f"{what} {label} ({at.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
