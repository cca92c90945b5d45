"""The worker process of a real ``strata serve``: restarted when it dies, and gone —
its jobs handed back — when the server dies, even by SIGKILL."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from serve_harness import Serve, stp_payload

pytestmark = pytest.mark.integration


def worker_pids(serve: Serve) -> list[int]:
    return [e["pid"] for e in serve.logs() if e.get("msg") == "workers started"]


def wait_for(what: str, check: object, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return any(line.split()[1:2] == ["Z"] for line in fh if line.startswith("State:"))
    except FileNotFoundError:
        return True


def test_worker_process_restarts_and_follows_the_server_down(tmp_path: Path) -> None:
    serve = Serve(tmp_path / "s", extra=["--workers", "1", "--lease", "3"]).start()
    try:
        wait_for("workers started", lambda: worker_pids(serve))
        first = worker_pids(serve)[0]
        for i in range(3):
            assert serve.post(stp_payload(f"w{i}")).status_code == 202
        wait_for(
            "a job in flight", lambda: any(i["status"] == "diagnosing" for i in serve.incidents())
        )
        os.kill(first, signal.SIGKILL)
        wait_for("a new worker process", lambda: len(worker_pids(serve)) == 2)
        assert any(e.get("msg", "").startswith("worker process died") for e in serve.logs())
        serve.wait_done(3, timeout_s=90)

        # Now the server alone is killed, a job in flight: its worker process stops too
        # and hands the job back at once (no waiting for the lease).
        for i in range(3, 6):
            assert serve.post(stp_payload(f"w{i}")).status_code == 202
        wait_for(
            "a job in flight", lambda: any(i["status"] == "diagnosing" for i in serve.incidents())
        )
        child = worker_pids(serve)[-1]
        assert serve.proc is not None
        serve.proc.send_signal(signal.SIGKILL)
        serve.proc.wait(10)
        wait_for("the worker process to exit", lambda: gone(child), timeout_s=20)
        with sqlite3.connect(tmp_path / "s" / "queue.db") as db:
            states = [r[0] for r in db.execute("SELECT status FROM incidents")]
        assert "diagnosing" not in states and states.count("queued") >= 1
    finally:
        serve.stop()
