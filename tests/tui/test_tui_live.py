"""``strata tui --config``: alert groups from a real Alertmanager 0.25 started on loopback.

The configuration has only ``[alertmanager]``: the UI lists the firing group, and the
investigation runs over no other source and says what it could not see — without
crashing, and without writing anything to Alertmanager.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from textual.widgets import DataTable, Static
from tui_harness import wait_settled

from tools.config import load_config
from tui.app import StrataApp
from tui.feedback import FeedbackStore
from tui.providers import LiveProvider
from tui.screens.investigation import InvestigationScreen

ALERTMANAGER = shutil.which(os.environ.get("ALERTMANAGER_BIN") or "prometheus-alertmanager")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        ALERTMANAGER is None,
        reason="prometheus-alertmanager not installed (Debian 'prometheus-alertmanager')",
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "am.yml").write_text(
        "route:\n  receiver: none\n  group_by: [alertname]\nreceivers:\n  - name: none\n"
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "am.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(ALERTMANAGER),
                f"--config.file={tmp_path / 'am.yml'}",
                f"--storage.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=url, timeout=2) as http:
            deadline = time.monotonic() + 15
            while True:
                try:
                    if http.get("/-/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"alertmanager did not become ready:\n{log.read_text()[-2000:]}")
                time.sleep(0.05)
            alert = {
                "labels": {
                    "alertname": "KubeNodeNotReady",
                    "node": "node-2",
                    "severity": "warning",
                },
                "annotations": {"summary": "node-2 is not ready"},
            }
            http.post("/api/v2/alerts", json=[alert]).raise_for_status()
            while not http.get("/api/v2/alerts/groups").json():
                if time.monotonic() > deadline:
                    pytest.fail("the alert never showed up in a group")
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=5)


async def test_live_mode_lists_alertmanager_groups_and_investigates(
    alertmanager: str, tmp_path: Path, store: FeedbackStore
) -> None:
    cfg = tmp_path / "strata.toml"
    cfg.write_text(f'[alertmanager]\nurl = "{alertmanager}"\n\n[model]\nspec = "none"\n')
    app = StrataApp(
        LiveProvider(load_config(cfg)), model_spec="none", store=store, open_single=False
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_settled(pilot)
        table = app.screen.query_one("#incidents", DataTable)
        assert table.row_count == 1
        assert [c.plain for c in table.get_row_at(0)][:2] == ["KubeNodeNotReady", "queued"]
        await pilot.press("enter")
        await wait_settled(pilot)
        screen = app.screen
        assert isinstance(screen, InvestigationScreen)
        entry = app.entries[screen.key]
        assert entry.diagnosis is not None, entry.error
        assert entry.status in ("diagnosed", "abstained")
        assert any("no [prometheus]" in n for n in entry.diagnosis.unavailable + tuple(entry.notes))
        assert "KubeNodeNotReady" in str(screen.title)
        assert str(screen.query_one("#verdict", Static).render())
