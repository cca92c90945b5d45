"""SVG snapshots of every screen and key state, from committed scenarios.

Rendering is pinned: terminal size, TZ=UTC, no wall-clock figures (``show_timings=False``),
no cursor blink, and toasts cleared before the picture is taken. Update with
``pytest tests/tui --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Input
from tui_harness import make_corpus_app, make_stp_app, wait_settled

from tui.app import StrataApp
from tui.feedback import FeedbackStore


async def _settle(pilot: Pilot[None]) -> None:
    await wait_settled(pilot)
    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False
    pilot.app.clear_notifications()
    await pilot.pause()


def test_incidents_corpus(snap_compare, store: FeedbackStore) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_corpus_app(store), terminal_size=(120, 24), run_before=_settle)


def test_investigation_stp_120x40(snap_compare, store: FeedbackStore) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_stp_app(store), terminal_size=(120, 40), run_before=_settle)


def test_investigation_stp_80x24(snap_compare, store: FeedbackStore) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_stp_app(store), terminal_size=(80, 24), run_before=_settle)


def test_investigation_dns_logs_evidence(snap_compare, store: FeedbackStore) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        await pilot.press("tab", "tab", "tab")  # hypotheses → findings
        box = pilot.app.screen.query_one("#findings")
        box.highlighted = next(  # type: ignore[attr-defined]
            i
            for i in range(box.option_count)
            if box.get_option_at_index(i).id == "f8"  # type: ignore[attr-defined]
        )
        await pilot.pause()

    assert snap_compare(make_stp_app(store), terminal_size=(120, 40), run_before=run_before)


def test_remediation_pane(snap_compare, store: FeedbackStore) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        await pilot.press("m")
        await _settle(pilot)

    assert snap_compare(make_stp_app(store), terminal_size=(120, 40), run_before=run_before)


def test_feedback_dialog(snap_compare, store: FeedbackStore) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        await pilot.press("f")
        await _settle(pilot)

    assert snap_compare(make_stp_app(store), terminal_size=(120, 40), run_before=run_before)


def test_help_light_theme(snap_compare, store: FeedbackStore) -> None:  # type: ignore[no-untyped-def]
    app: StrataApp = make_corpus_app(store)

    async def run_before(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        await pilot.press("ctrl+t", "question_mark")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=(100, 40), run_before=run_before)


def test_error_modal(snap_compare, store: FeedbackStore) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        pilot.app.show_error("Source failed", "http://127.0.0.1:9/api/incidents: ConnectError")  # type: ignore[attr-defined]
        await pilot.pause()

    assert snap_compare(make_corpus_app(store), terminal_size=(80, 24), run_before=run_before)
