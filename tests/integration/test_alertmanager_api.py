"""tools.alertmanager.api against a real Alertmanager 0.25 started by the test on loopback.

The test POSTs two alerts and a silence through Alertmanager's own API, then reads them back
with the read-only client. Alertmanager also notifies a webhook receiver run by the test, so
the client's group → webhook conversion is compared with the payload Alertmanager itself
sent for the same group.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tools.alertmanager.api import AlertmanagerAPI, render_matchers
from tools.alertmanager.webhook import WebhookPayload, parse_webhook
from tools.errors import QueryError, SourceUnavailable
from tools.http_auth import RetryPolicy

ALERTMANAGER = shutil.which(os.environ.get("ALERTMANAGER_BIN") or "prometheus-alertmanager")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        ALERTMANAGER is None,
        reason="prometheus-alertmanager not installed (Debian 'prometheus-alertmanager')",
    ),
]

FAST = RetryPolicy(retries=2, backoff_s=0.05)
ALERTS = [
    {
        "labels": {"alertname": "DiskFull", "instance": "node-a", "severity": "page"},
        "annotations": {"summary": "disk on node-a is full", "runbook": "disk.md"},
        "generatorURL": "http://prometheus.lab/graph?g0.expr=disk",
    },
    {
        "labels": {"alertname": "DiskFull", "instance": "node-b", "severity": "page"},
        "annotations": {"summary": "disk on node-b is full", "runbook": "disk.md"},
    },
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class WebhookSink:
    """A loopback HTTP server keeping the bodies Alertmanager POSTs to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                sink.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Running:
    url: str
    silence_id: str
    sink: WebhookSink


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    work = tmp_path_factory.mktemp("alertmanager")
    sink = WebhookSink()
    (work / "am.yml").write_text(
        "route:\n  receiver: strata\n  group_by: [alertname]\n"
        "  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n"
        f"receivers:\n  - name: strata\n    webhook_configs: [{{url: '{sink.url}'}}]\n"
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = work / "am.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(ALERTMANAGER),
                f"--config.file={work / 'am.yml'}",
                f"--storage.path={work / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--web.external-url={url}",
                "--cluster.listen-address=",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=url, timeout=2) as http:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    if http.get("/-/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            else:
                pytest.fail(f"alertmanager did not become ready:\n{log.read_text()[-2000:]}")
            http.post("/api/v2/alerts", json=ALERTS).raise_for_status()
            silence = {
                "matchers": [
                    {"name": "instance", "value": "node-b", "isRegex": False, "isEqual": True}
                ],
                "startsAt": datetime.now(UTC).isoformat(),
                "endsAt": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
                "createdBy": "strata-test",
                "comment": "node-b disk swap",
            }
            answer = http.post("/api/v2/silences", json=silence)
            answer.raise_for_status()
            # Wait until Alertmanager has processed both alerts and notified the sink.
            while time.monotonic() < deadline:
                states = {a["status"]["state"] for a in http.get("/api/v2/alerts").json()}
                if states == {"active", "suppressed"} and sink.bodies:
                    break
                time.sleep(0.1)
            else:
                pytest.fail(f"alerts not processed (states {states}, {len(sink.bodies)} hooks)")
        yield Running(url=url, silence_id=answer.json()["silenceID"], sink=sink)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, 15)
            proc.wait(timeout=5)
        sink.close()


async def test_lists_active_alerts_typed(alertmanager: Running) -> None:
    now = datetime.now(UTC)
    async with AlertmanagerAPI(alertmanager.url, retry=FAST) as am:
        (alert,) = await am.alerts()  # active, neither silenced nor inhibited
        both = await am.alerts(silenced=True)
        only_b = await am.alerts(silenced=True, matchers={"instance": "node-b"})
    assert alert.labels["instance"] == "node-a" and alert.alertname == "DiskFull"
    assert alert.annotations["summary"] == "disk on node-a is full"
    assert alert.generator_url == "http://prometheus.lab/graph?g0.expr=disk"
    assert alert.receivers == ("strata",)
    assert alert.status.state == "active" and alert.status.silenced_by == ()
    assert alert.starts_at <= now < alert.ends_at and alert.firing(now)
    assert len(alert.fingerprint) == 16
    assert {a.labels["instance"] for a in both} == {"node-a", "node-b"}
    (b,) = only_b
    assert b.status.state == "suppressed"
    assert b.status.silenced_by == (alertmanager.silence_id,)


async def test_lists_silences(alertmanager: Running) -> None:
    async with AlertmanagerAPI(alertmanager.url) as am:
        (silence,) = await am.silences()
        assert await am.silences(matchers={"instance": "node-a"}) == []
    assert silence.id == alertmanager.silence_id
    assert silence.state == "active"
    assert silence.comment == "node-b disk swap" and silence.created_by == "strata-test"
    (matcher,) = silence.matchers
    assert (matcher.name, matcher.value, matcher.is_regex, matcher.is_equal) == (
        "instance",
        "node-b",
        False,
        True,
    )
    assert silence.ends_at - silence.starts_at > timedelta(hours=1)


async def test_group_becomes_the_webhook_alertmanager_sends(alertmanager: Running) -> None:
    async with AlertmanagerAPI(alertmanager.url) as am:
        (group,) = await am.alert_groups()
        (with_silenced,) = await am.alert_groups(silenced=True)
    assert group.labels == {"alertname": "DiskFull"} and group.receiver == "strata"
    assert len(with_silenced.alerts) == 2 and len(group.alerts) == 1

    ours = group.to_webhook(external_url=alertmanager.url)
    theirs = parse_webhook(alertmanager.sink.bodies[0])
    assert ours == parse_webhook(ours.model_dump_json(by_alias=True))  # valid, round-trips
    fields = ("version", "status", "receiver", "group_key", "external_url", "truncated_alerts")
    for name in (*fields, "group_labels", "common_labels", "common_annotations"):
        assert getattr(ours, name) == getattr(theirs, name), name
    same = [a.model_dump(exclude={"starts_at"}) for a in ours.alerts]
    assert same == [a.model_dump(exclude={"starts_at"}) for a in theirs.alerts]
    # The API reports times to the millisecond; the webhook carries Go's full precision.
    assert abs(ours.alerts[0].starts_at - theirs.alerts[0].starts_at) < timedelta(milliseconds=1)
    assert ours.alerts[0].ends_at is None and ours.alerts[0].status == "firing"

    two = with_silenced.to_webhook(external_url=alertmanager.url)
    assert two.common_labels == {"alertname": "DiskFull", "severity": "page"}
    assert two.common_annotations == {"runbook": "disk.md"}

    later = with_silenced.alerts[0].ends_at + timedelta(seconds=1)
    resolved: WebhookPayload = with_silenced.to_webhook(now=later)
    assert resolved.status == "resolved"
    assert all(a.status == "resolved" and a.ends_at is not None for a in resolved.alerts)


async def test_rejected_filter_is_query_error(alertmanager: Running) -> None:
    async with AlertmanagerAPI(alertmanager.url, retry=FAST) as am:
        with pytest.raises(QueryError, match="failed to parse receiver param"):
            await am.alerts(receiver="(")
        with pytest.raises(ValueError, match="invalid label name"):
            await am.alerts(matchers={"not a label": "x"})


def test_matchers_are_escaped() -> None:
    assert render_matchers({"summary": 'disk "full"\\'}) == ['summary="disk \\"full\\"\\\\"']


async def test_unreachable_alertmanager_is_source_unavailable() -> None:
    started = time.monotonic()
    async with AlertmanagerAPI(f"http://127.0.0.1:{free_port()}", retry=FAST) as am:
        with pytest.raises(SourceUnavailable, match="after 2 retries"):
            await am.silences()
    assert time.monotonic() - started < 2
