"""The worker pool on a real SQLite queue: reports as files, retries, failed reports,
lost workers, and outbound notifications to a real HTTP receiver on loopback.

The diagnosers here are small functions (a recorded-scenario diagnosis is exercised
end to end in test_serve_alertmanager.py); they stand in for sources that raise.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_harness import STP, stp_payload

from agents.coordinator import ProgressFn
from agents.llm import resolve
from agents.models import Diagnosis
from strata.serve.diagnosers import scenario_diagnoser
from strata.serve.metrics import ServeMetrics
from strata.serve.notify import Notifier, Target
from strata.serve.sqlite_store import SqliteStore
from strata.serve.worker import WorkerPool, WorkerSettings
from tools.alertmanager.webhook import WebhookPayload, parse_webhook
from tools.scenario.loader import load_scenario


async def queued(
    store: SqliteStore, group: str, severity: str = "warning", at: float | None = None
) -> str:
    data = stp_payload(group, severity=severity)
    now = time.time() if at is None else at
    return (await store.intake(parse_webhook(data), json.dumps(data), now=now)).incident_id


async def wait_status(
    store: SqliteStore, iid: str, want: str, timeout_s: float = 30.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = await store.get(iid)
        if row is not None and row["status"] == want:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"{iid} never reached {want}: {await store.get(iid)}")


def pool(store: SqliteStore, tmp_path: Path, diagnoser: Any, **kw: Any) -> WorkerPool:
    notifier = kw.pop("notifier", None)
    settings = WorkerSettings(**{"workers": 1, "lease_s": 5, "poll_s": 0.05, **kw})
    from agents.models import ModelUse

    return WorkerPool(
        store, diagnoser, settings=settings, reports_dir=tmp_path / "reports",
        events=ServeMetrics(), model=ModelUse(backend="none", available=False),
        notifier=notifier,
    )  # fmt: skip


async def test_recorded_diagnosis_lands_in_queue_and_files(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    model = await resolve("none")
    workers = pool(store, tmp_path, scenario_diagnoser(load_scenario(STP), model))
    iid = await queued(store, "stp")
    workers.start()
    try:
        row = await wait_status(store, iid, "diagnosed")
    finally:
        await workers.stop()
        await store.close()
    assert row["root_cause"] == "network/stp_loop/sw1"
    report = json.loads((tmp_path / "reports" / f"{iid}.json").read_text())
    assert report["root_cause"] == {"layer": "network", "fault": "stp_loop", "component": "sw1"}
    md = (tmp_path / "reports" / f"{iid}.md").read_text()
    assert "stp_loop" in md and md == row["report_markdown"]
    assert workers.events.diagnosed.labels("diagnosed")._value.get() == 1


async def test_a_job_that_keeps_raising_ends_as_a_failed_report(tmp_path: Path) -> None:
    calls: list[float] = []

    async def broken(alert: WebhookPayload, progress: ProgressFn) -> Diagnosis:
        calls.append(time.monotonic())
        raise ConnectionRefusedError("prometheus at 127.0.0.1:1 refused the connection")

    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    workers = pool(store, tmp_path, broken, max_attempts=3, retry_backoff_s=0.1)
    iid = await queued(store, "x")
    workers.start()
    try:
        row = await wait_status(store, iid, "failed")
    finally:
        await workers.stop()
        await store.close()
    assert len(calls) == 3
    assert calls[2] - calls[1] >= 0.2 - 0.02  # back-off doubles
    assert "after 3 attempts" in row["error"] and "refused the connection" in row["error"]
    report = json.loads((tmp_path / "reports" / f"{iid}.json").read_text())
    assert report["verdict"] == "failed" and "refused" in report["error"]
    assert workers.events.failed._value.get() == 3


async def test_a_job_whose_workers_keep_dying_ends_failed(tmp_path: Path) -> None:
    """Leases taken and abandoned (a worker killed mid-diagnosis, twice) use up the attempts."""

    async def never(alert: WebhookPayload, progress: ProgressFn) -> Diagnosis:
        raise AssertionError("must not be called: the job is out of attempts")

    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    t0 = time.time() - 100
    iid = await queued(store, "x", at=t0)
    for n in range(2):
        assert await store.claim(f"dead{n}", now=t0 + 2 * n, lease_s=1) is not None
    workers = pool(store, tmp_path, never, max_attempts=2)
    workers.start()
    try:
        row = await wait_status(store, iid, "failed")
    finally:
        await workers.stop()
        await store.close()
    assert "gave up after 2 attempts" in row["error"]


async def test_stopping_hands_the_job_in_flight_back(tmp_path: Path) -> None:
    started = asyncio.Event()

    async def slow(alert: WebhookPayload, progress: ProgressFn) -> Diagnosis:
        started.set()
        await asyncio.sleep(60)
        raise AssertionError("unreachable")

    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    workers = pool(store, tmp_path, slow)
    iid = await queued(store, "x")
    workers.start()
    await asyncio.wait_for(started.wait(), 10)
    await workers.stop()
    row = await store.get(iid)
    job = await store.claim("next", now=time.time(), lease_s=5)
    await store.close()
    assert row is not None and row["status"] == "queued"
    assert job is not None and job.attempts == 1  # the interrupted attempt was refunded


class Receiver:
    """A loopback HTTP server that fails its first ``fail`` POSTs with 503."""

    def __init__(self, fail: int) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.fail = fail
        self.two = threading.Event()
        self.one = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if outer.fail > 0:
                    outer.fail -= 1
                    self.send_response(503)
                else:
                    outer.bodies.append(body)
                    outer.one.set()
                    if len(outer.bodies) >= 2:
                        outer.two.set()
                    self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail=2)
    yield r
    r.server.shutdown()


async def test_notifications_are_retried_until_delivered(
    tmp_path: Path, receiver: Receiver
) -> None:
    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    model = await resolve("none")
    notifier = Notifier(
        [Target("json", receiver.url), Target("slack", receiver.url)],
        backoff_s=0.05, public_url="https://strata.example:9095",
    )  # fmt: skip
    workers = pool(
        store, tmp_path, scenario_diagnoser(load_scenario(STP), model), notifier=notifier
    )
    iid = await queued(store, "n", severity="critical")
    workers.start()
    try:
        await wait_status(store, iid, "diagnosed")
        assert await asyncio.to_thread(receiver.two.wait, 15)
    finally:
        await workers.stop()
        await notifier.drain(10)
        await store.close()
    assert receiver.fail == 0 and len(receiver.bodies) == 2
    generic = next(b for b in receiver.bodies if "incident" in b)
    slack = next(b for b in receiver.bodies if "text" in b)
    assert generic["incident"]["id"] == iid and generic["diagnosis"]["verdict"] == "diagnosed"
    assert generic["url"] == f"https://strata.example:9095/api/incidents/{iid}"
    assert "network/stp_loop/sw1" in slack["text"] and "critical" in slack["text"]


async def test_a_notification_cut_short_is_sent_after_a_restart(tmp_path: Path) -> None:
    """The first pool's only target is down and it stops mid-retry (a crash); the next
    pool finds the notification still owed and delivers it."""
    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    model = await resolve("none")
    diagnoser = scenario_diagnoser(load_scenario(STP), model)
    down = Receiver(fail=1000)
    first = Notifier([Target("json", down.url)], backoff_s=5.0)
    workers = pool(store, tmp_path, diagnoser, notifier=first, notify_resend_after_s=0.0)
    iid = await queued(store, "owed")
    workers.start()
    try:
        await wait_status(store, iid, "diagnosed")
    finally:
        await workers.stop()
        for task in list(first._tasks):
            task.cancel()  # the process died while retrying
        down.server.shutdown()
    assert await store.owed_notifications(before=time.time() + 1) == [iid]
    up = Receiver(fail=0)
    second = pool(store, tmp_path, diagnoser, notifier=Notifier([Target("json", up.url)]),
                  notify_resend_after_s=0.0)  # fmt: skip
    second.start()
    try:
        assert await asyncio.to_thread(up.one.wait, 15)
        await asyncio.sleep(0.2)
    finally:
        await second.stop()
        assert second.notifier is not None
        await second.notifier.drain(5)
        up.server.shutdown()
    assert up.bodies[0]["incident"]["id"] == iid
    assert up.bodies[0]["diagnosis"]["verdict"] == "diagnosed"
    assert await store.owed_notifications(before=time.time() + 1) == []
    await store.close()
