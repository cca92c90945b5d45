"""``strata tui --server`` against a real ``strata serve`` (a subprocess on loopback,
diagnosing against the STP scenario's recording), fed one Alertmanager webhook."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from textual.widgets import OptionList, Static
from tui_harness import STP, wait_settled

from tui.app import StrataApp
from tui.feedback import FeedbackStore
from tui.providers import ServerProvider
from tui.screens.investigation import InvestigationScreen

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    token = tmp_path / "token"
    token.write_text("tui-test-token\n")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "strata", "serve", "--scenario", str(STP),
             "--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "serve"),
             "--token-file", str(token), "--model", "none"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    headers = {"Authorization": "Bearer tui-test-token"}
    try:
        with httpx.Client(base_url=url, timeout=5, headers=headers) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"strata serve did not start:\n{log.read_text()[-2000:]}")
                time.sleep(0.1)
            body = (STP / "alert.json").read_bytes()
            answer = http.post(
                "/webhook/alertmanager",
                content=body,
                headers={"Content-Type": "application/json"},
            )
            assert answer.status_code in (200, 202), answer.text
            while True:
                items = http.get("/api/incidents").json()["incidents"]
                if items and items[0]["status"] in ("diagnosed", "abstained", "failed"):
                    break
                if time.monotonic() > deadline:
                    pytest.fail(f"no report in time:\n{log.read_text()[-2000:]}")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_tui_shows_a_report_of_strata_serve(serve: str, store: FeedbackStore) -> None:
    app = StrataApp(ServerProvider(serve, token="tui-test-token"), store=store, show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_settled(pilot)  # one incident: it opens by itself
        screen = app.screen
        assert isinstance(screen, InvestigationScreen)
        assert "DIAGNOSED  network/stp_loop/sw1" in str(
            screen.query_one("#verdict", Static).render()
        )
        board = screen.query_one("#hypotheses", OptionList)
        prompts = [str(board.get_option_at_index(i).prompt) for i in range(board.option_count)]
        assert any("SYMPTOM" in p and "dns/upstream_failure" in p for p in prompts)
