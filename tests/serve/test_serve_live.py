"""``strata serve --config``: each group is diagnosed over the live sources of a
strata.toml — here a real, empty Prometheus on loopback — and the configuration's
secret never reaches the log."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from serve_harness import Serve, free_port, stp_payload, wait_http

PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (Debian 'prometheus')"),
]
SECRET = "live-bearer-9d2e1f"


def test_live_config_diagnoses_over_live_sources(tmp_path: Path) -> None:
    assert PROMETHEUS is not None
    port = free_port()
    (tmp_path / "prom.yml").write_text("global:\n  scrape_interval: 15s\n")
    prom = subprocess.Popen(
        [PROMETHEUS, f"--config.file={tmp_path / 'prom.yml'}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    config = tmp_path / "strata.toml"
    config.write_text(
        f'[prometheus]\nurl = "http://127.0.0.1:{port}"\n\n'
        f'[prometheus.auth]\nbearer_token = "{SECRET}"\n'
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready", proc=prom)
        serve = Serve(tmp_path / "s", extra=["--config", str(config), "--workers", "1"]).start()
        try:
            assert serve.post(stp_payload("live")).status_code == 202
            [incident] = serve.wait_done(1, timeout_s=90)
            detail = serve.get(f"/api/incidents/{incident['id']}").json()
        finally:
            serve.stop()
    finally:
        prom.terminate()
        prom.wait(10)
    diagnosis = detail["diagnosis"]
    assert diagnosis is not None and diagnosis["verdict"] in ("diagnosed", "abstained")
    assert any(e["source"] == "metrics" for e in diagnosis["evidence"])
    # The live clock: the window ends now, not at the scenario's 2024 incident.
    assert diagnosis["incident"]["observed_at"].startswith(detail["received_at"][:4])
    assert (serve.reports / f"{incident['id']}.md").is_file()
    assert serve.log_path is not None and SECRET not in serve.log_path.read_text()
