"""Pilot tests: drive the App as an operator would and assert on what is visible.

Replays run for real (the recorded Prometheus, logs, SNMP and SSH of committed scenarios).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from textual.message import Message
from textual.widgets import ContentSwitcher, DataTable, Input, OptionList, Select, Static
from tui_harness import SCENARIOS, wait_settled

from agents.models import Diagnosis
from strata.cli import main
from tui.app import StrataApp
from tui.feedback import FeedbackStore
from tui.messages import IncidentUpdated
from tui.providers import ServerProvider, scenario_dirs
from tui.screens.error import ErrorScreen
from tui.screens.feedback import FeedbackScreen
from tui.screens.help import HelpScreen
from tui.screens.incidents import IncidentsScreen
from tui.screens.investigation import InvestigationScreen
from tui.screens.remediation import RemediationScreen
from tui.widgets.specialist_panel import SpecialistPanel

KEY = "10_stp_loop_dns_symptoms"


def _options(box: OptionList) -> list[str]:
    return [str(box.get_option_at_index(i).prompt) for i in range(box.option_count)]


def _plain(static: Static) -> str:
    return str(static.render())


async def test_replay_through_the_ui_shows_specialists_verdict_and_evidence(
    stp_app: StrataApp,
) -> None:
    seen: list[Message] = []
    async with stp_app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await wait_settled(pilot)
        screen = stp_app.screen
        assert isinstance(screen, InvestigationScreen)
        streamed = {m.who for m in seen if isinstance(m, IncidentUpdated) and m.who}
        assert {"network", "dns", "compute", "sources"} <= streamed
        assert "DIAGNOSED  network/stp_loop/sw1" in _plain(screen.query_one("#verdict", Static))
        for panel in screen.query(SpecialistPanel):
            assert str(panel.border_title).startswith("✓"), panel.border_title
        network = screen.query_one("#specialist-network", SpecialistPanel)
        assert "dot1dStpTopChanges +675" in _plain(network.query_one(".found", Static))
        board = _options(screen.query_one("#hypotheses", OptionList))
        assert board[0].startswith("● ROOT CAUSE") and "network/stp_loop/sw1" in board[0]
        dns = next(o for o in board if "dns/upstream_failure" in o)
        assert "SYMPTOM" in dns and "network is upstream of dns" in dns
        assert screen.query_one(ContentSwitcher).current == "ev-plot-box"
        assert "dot1dStpTopChanges @ sw1" in _plain(screen.query_one("#ev-caption", Static))
        assert "No language model" in _plain(screen.query_one("#banner", Static))
        # The DNS finding's evidence is log lines with the match highlighted.
        findings = screen.query_one("#findings", OptionList)
        findings.focus()
        ids = [findings.get_option_at_index(i).id for i in range(findings.option_count)]
        findings.highlighted = ids.index("f8")
        await pilot.pause()
        assert screen.query_one(ContentSwitcher).current == "ev-text"
        assert "i/o timeout" in _plain(screen.query_one("#ev-body", Static))
        await pilot.press("escape")
        assert isinstance(stp_app.screen, IncidentsScreen)
        table = stp_app.screen.query_one("#incidents", DataTable)
        assert [c.plain for c in table.get_row(KEY)][1:4] == [
            "diagnosed",
            "network/stp_loop/sw1",
            "0.99",
        ]
        await pilot.press("q")
    assert stp_app.return_code == 0


async def test_feedback_survives_a_restart_and_exports(
    store: FeedbackStore, tmp_path: Path
) -> None:
    from tui_harness import make_stp_app

    app = make_stp_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_settled(pilot)
        await pilot.press("f")
        assert isinstance(app.screen, FeedbackScreen)
        app.screen.query_one("#fb-layer", Select).value = "dns"
        await pilot.pause()
        app.screen.query_one("#fb-fault", Select).value = "upstream_failure"
        app.screen.query_one("#fb-component", Input).value = "router"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, InvestigationScreen)
        assert "corrected to dns/upstream_failure/router" in _plain(
            app.screen.query_one("#verdict", Static)
        )
    fb = FeedbackStore(store.path).latest(KEY)
    assert fb is not None and (fb.correct, fb.label) == (False, "dns/upstream_failure/router")

    again = make_stp_app(FeedbackStore(store.path))
    async with again.run_test(size=(120, 40)) as pilot:
        await wait_settled(pilot)
        assert "corrected to dns/upstream_failure/router" in (again.entries[KEY].feedback or "")
        await pilot.press("x")
        await pilot.pause()
    exported = again._reports_dir().parent / "scenarios"
    (out,) = list(exported.iterdir())
    assert main(["validate", str(out)]) == 0


async def test_remediation_marks_go_into_the_exported_report(stp_app: StrataApp) -> None:
    async with stp_app.run_test(size=(120, 40)) as pilot:
        await wait_settled(pilot)
        await pilot.press("m")
        assert isinstance(stp_app.screen, RemediationScreen)
        await pilot.press("a")
        await pilot.pause()
        assert "approved" in _options(stp_app.screen.query_one("#steps", OptionList))[0]
        await pilot.press("escape", "e")
        await pilot.pause()
    reports = stp_app._reports_dir()
    md = (reports / f"strata-report-{KEY}.md").read_text(encoding="utf-8")
    assert "Root cause: **network / stp_loop / sw1**" in md
    assert "Step 1 marked **approved**" in md
    data = json.loads((reports / f"strata-report-{KEY}.json").read_text(encoding="utf-8"))
    assert data["root_cause"]["component"] == "sw1"
    assert data["operator"]["remediation_marks"][0]["state"] == "approved"
    assert stp_app.store.marks(KEY)[0][0] == "approved"


async def test_incidents_filter_and_help(corpus_app: StrataApp) -> None:
    async with corpus_app.run_test(size=(120, 40)) as pilot:
        await wait_settled(pilot)
        table = corpus_app.screen.query_one("#incidents", DataTable)
        everything = len(scenario_dirs(SCENARIOS))
        assert everything >= 13 and table.row_count == everything
        assert all(e.status == "queued" for e in corpus_app.entries.values())
        await pilot.press("slash", *"cert")
        await pilot.pause()
        assert table.row_count == 1 and table.get_row_at(0)[0].plain == "CertificateExpiration"
        await pilot.press("enter", "escape")
        await pilot.pause()
        assert table.row_count == everything
        await pilot.press("question_mark")
        assert isinstance(corpus_app.screen, HelpScreen)
        keys = {tuple(map(str, corpus_app.screen.query_one(DataTable).get_row_at(i)))[1]
                for i in range(corpus_app.screen.query_one(DataTable).row_count)}  # fmt: skip
        assert {"q", "question_mark", "slash", "enter", "ctrl+p"} <= keys
        await pilot.press("escape")
        assert isinstance(corpus_app.screen, IncidentsScreen)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_server_is_a_modal_not_a_crash(store: FeedbackStore) -> None:
    app = StrataApp(ServerProvider(f"http://127.0.0.1:{_free_port()}", timeout_s=2), store=store)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_settled(pilot)
        assert isinstance(app.screen, ErrorScreen)
        assert "Server unreachable" in app.screen.error_title
        await pilot.press("enter")
        assert isinstance(app.screen, IncidentsScreen)
        assert app.is_running


@pytest.fixture
def serve_stub(stp_diagnosis: Diagnosis) -> Iterator[str]:
    """A tiny HTTP server that stands in for ``strata serve``: it answers the contract's
    ``GET /api/incidents`` and ``GET /api/incidents/{id}`` shapes with a real diagnosis."""
    summary: dict[str, Any] = {
        "id": "inc-1",
        "group_key": '{}:{alertname="KubeAPILatencyHigh"}',
        "alertname": "KubeAPILatencyHigh",
        "severity": "warning",
        "status": "diagnosed",
        "received_at": "2024-12-14T03:05:00Z",
        "updated_at": "2024-12-14T03:06:00Z",
        "root_cause": "network/stp_loop/sw1",
        "confidence": stp_diagnosis.confidence,
    }
    queued = {**summary, "id": "inc-2", "status": "queued", "root_cause": None, "confidence": None}
    detail = {
        **summary,
        "alerts": [],
        "diagnosis": stp_diagnosis.to_dict(),
        "report_markdown": None,
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("Authorization") != "Bearer s3cret":
                body, code = {"error": "unauthorized"}, 401
            elif self.path == "/api/incidents":
                body, code = {"incidents": [queued, summary]}, 200
            elif self.path == "/api/incidents/inc-1":
                body, code = detail, 200
            elif self.path == "/api/incidents/inc-2":
                body, code = (
                    {**queued, "alerts": [], "diagnosis": None, "report_markdown": None},
                    200,
                )
            else:
                body, code = {"error": "not found"}, 404
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_server_mode_lists_incidents_and_shows_a_report(
    serve_stub: str, store: FeedbackStore
) -> None:
    app = StrataApp(ServerProvider(serve_stub, token="s3cret"), store=store, show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_settled(pilot)
        table = app.screen.query_one("#incidents", DataTable)
        assert [table.get_row_at(i)[1].plain for i in range(2)] == ["queued", "diagnosed"]
        await pilot.press("down", "enter")
        await wait_settled(pilot)
        screen = app.screen
        assert isinstance(screen, InvestigationScreen)
        assert "network/stp_loop/sw1" in _plain(screen.query_one("#verdict", Static))
        net = screen.query_one("#specialist-network", SpecialistPanel)
        assert "dot1dStpTopChanges +675" in _plain(net.query_one(".found", Static))
        # No raw series from a server: the pane shows the evidence's excerpt.
        assert screen.query_one(ContentSwitcher).current == "ev-text"
        await pilot.press("escape", "up", "enter")
        await wait_settled(pilot)
        assert "QUEUED" in _plain(app.screen.query_one("#verdict", Static))


def test_no_color_is_respected(monkeypatch: pytest.MonkeyPatch, store: FeedbackStore) -> None:
    from tui_harness import make_stp_app

    monkeypatch.setenv("NO_COLOR", "1")
    assert make_stp_app(store).no_color
    monkeypatch.delenv("NO_COLOR")
    assert not make_stp_app(store).no_color


async def test_small_terminal_folds_the_specialists_once_the_verdict_is_in(
    stp_app: StrataApp,
) -> None:
    async with stp_app.run_test(size=(80, 24)) as pilot:
        await wait_settled(pilot)
        screen = stp_app.screen
        assert screen.has_class("-specialists-hidden")
        assert not screen.query_one("#specialists").display
        board = screen.query_one("#hypotheses", OptionList)
        # Both hypotheses, the symptom's reason included, fit on the board without scrolling.
        assert board.max_scroll_y == 0
        await pilot.press("s")
        assert screen.query_one("#specialists").display


def test_cli_refuses_bad_input_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tui", "--scenario", str(tmp_path)]) == 2
    assert "not a scenario directory" in capsys.readouterr().err
    monkeypatch.setenv("STRATA_THEME", "blue")
    assert main(["tui"]) == 2
    assert "expected dark or light" in capsys.readouterr().err
