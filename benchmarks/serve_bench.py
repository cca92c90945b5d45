"""Alert-storm benchmark for ``strata serve``: ack latency, intake throughput, and
whether every accepted alert group ends with a report after a ``kill -9`` mid-storm.

Usage: .venv/bin/python benchmarks/serve_bench.py [--alerts 5000] [--groups 200]
       [--workers 2] [--concurrency 32] [--phase direct|alertmanager|both] [--json]

direct: the benchmark posts the storm itself: for each alert, a webhook notification
  of its group carrying every alert of the group so far (as Alertmanager re-sends a
  growing group); ack latency is measured by the client. Half-way through, the server
  is killed with SIGKILL and restarted on the same queue; requests that failed are
  retried (as Alertmanager retries) until acknowledged.
alertmanager: the alerts go to a real Alertmanager (group_wait/group_interval 1s,
  grouped by alertname and group) through its v2 API; Alertmanager posts the groups
  to ``strata serve``. Ack latency is the server's own request time (its JSON access
  log), the only place it can be seen. The server is killed and restarted the same way.

Each phase then waits until every group that got a 2xx has a final report and counts
the groups without one (must be 0). Every diagnosis is a real replay of the STP
scenario (a throw-away Prometheus each), so draining the reports takes a while.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "serve"))

from serve_harness import Alertmanager, Serve  # noqa: E402

FINAL = {"diagnosed", "abstained", "failed", "resolved"}


def pct(values: list[float], q: float) -> float:
    """Percentile by linear interpolation between order statistics."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def alert(group: int, n: int) -> dict[str, Any]:
    return {
        "labels": {
            "alertname": "KubeAPILatencyHigh", "group": f"g{group:03d}",
            "instance": f"10.0.{group % 250}.{n}:6443", "namespace": "default",
            "severity": "critical" if group % 10 == 0 else "warning",
        },
        "annotations": {"message": f"storm alert {n} of group {group}"},
    }  # fmt: skip


def notification(group: int, upto: int, started: str) -> dict[str, Any]:
    alerts = [
        dict(alert(group, n), status="firing", startsAt=started, endsAt="0001-01-01T00:00:00Z",
             generatorURL="http://prometheus.lab/graph", fingerprint=f"{group:03d}{n:04d}")
        for n in range(upto)
    ]  # fmt: skip
    key = f'{{}}:{{alertname="KubeAPILatencyHigh", group="g{group:03d}"}}'
    return {
        "version": "4", "groupKey": key, "status": "firing", "receiver": "strata",
        "groupLabels": {"alertname": "KubeAPILatencyHigh", "group": f"g{group:03d}"},
        "commonLabels": {"alertname": "KubeAPILatencyHigh", "namespace": "default"},
        "commonAnnotations": {}, "externalURL": "http://alertmanager.lab", "truncatedAlerts": 0,
        "alerts": alerts,
    }  # fmt: skip


def storm_order(alerts: int, groups: int) -> list[tuple[int, int]]:
    """(group, alerts so far) for each alert, groups interleaved."""
    per = alerts // groups
    return [(g, n + 1) for n in range(per) for g in range(groups)]


async def wait_reports(serve: Serve, groups: set[str], timeout_s: float) -> tuple[float, int]:
    """Seconds until every group in ``groups`` has a final report, and how many lack one."""
    started = time.monotonic()
    missing = len(groups)
    async with httpx.AsyncClient(timeout=30) as client:
        while time.monotonic() - started < timeout_s:
            reply = await client.get(f"{serve.url}/api/incidents?limit=1000", headers=serve.headers)
            final = {i["group_key"] for i in reply.json()["incidents"] if i["status"] in FINAL}
            missing = len(groups - final)
            if missing == 0:
                break
            await asyncio.sleep(1.0)
    return time.monotonic() - started, missing


async def direct(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    serve = Serve(work / "direct", extra=["--workers", str(args.workers), "--lease", "10"]).start()
    order = storm_order(args.alerts, args.groups)
    started_at = "2024-12-14T03:04:59Z"
    latencies: list[float] = []
    retries = 0
    accepted: set[str] = set()
    acked = 0
    killed = asyncio.Event()
    restarted = asyncio.Event()
    restart_s = 0.0
    queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    for item in order:
        queue.put_nowait(item)

    async def sender(client: httpx.AsyncClient) -> None:
        nonlocal retries, acked
        while True:
            try:
                g, upto = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            body = json.dumps(notification(g, upto, started_at)).encode()
            while True:
                t0 = time.perf_counter()
                try:
                    reply = await client.post(
                        f"{serve.url}/webhook/alertmanager", content=body,
                        headers={"Content-Type": "application/json"},
                    )  # fmt: skip
                    if reply.status_code == 202:
                        latencies.append(time.perf_counter() - t0)
                        accepted.add(reply.json()["incident"])
                        acked += 1
                        if acked >= len(order) // 2:
                            half.set()
                        break
                except httpx.HTTPError:
                    pass
                retries += 1
                await (restarted.wait() if killed.is_set() else asyncio.sleep(0.05))

    half = asyncio.Event()

    async def killer() -> None:
        nonlocal restart_s
        await half.wait()
        killed.set()
        serve.kill9()
        t0 = time.monotonic()
        await asyncio.to_thread(serve.start)
        restart_s = time.monotonic() - t0
        restarted.set()

    limits = httpx.Limits(max_connections=args.concurrency)
    t0 = time.monotonic()
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        await asyncio.gather(killer(), *(sender(client) for _ in range(args.concurrency)))
    storm_s = time.monotonic() - t0
    groups = {notification(g, 1, started_at)["groupKey"] for g in range(args.groups)}
    drain_s, missing = await wait_reports(serve, groups, args.drain_timeout)
    incidents = serve.incidents()
    serve.stop()
    return {
        "phase": "direct", "notifications": len(order), "alerts": args.alerts,
        "groups": args.groups, "acked": acked, "incidents": len(incidents),
        "retries_after_kill": retries, "storm_s": round(storm_s, 2),
        "intake_per_s": round(acked / storm_s, 1),
        "ack_p50_ms": round(pct(latencies, 0.5) * 1000, 2),
        "ack_p99_ms": round(pct(latencies, 0.99) * 1000, 2),
        "restart_s": round(restart_s, 2), "drain_s": round(drain_s, 1),
        "groups_without_report": missing,
    }  # fmt: skip


async def through_alertmanager(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    serve = Serve(work / "am-serve", extra=["--workers", str(args.workers), "--lease", "10"])
    serve.start()
    am = Alertmanager(work / "am", f"{serve.url}/webhook/alertmanager").start()
    order = [(g, n) for n in range(args.alerts // args.groups) for g in range(args.groups)]
    batch = 100
    t0 = time.monotonic()
    pushed = 0
    restart_s = 0.0
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(0, len(order), batch):
            alerts = [alert(g, n) for g, n in order[i : i + batch]]
            (await client.post(f"{am.url}/api/v2/alerts", json=alerts)).raise_for_status()
            pushed += len(alerts)
            if i // batch == len(order) // batch // 2:
                # Let Alertmanager's notifications reach the server, then kill it mid-storm.
                await asyncio.sleep(2.0)
                first_logs = serve.logs()
                serve.kill9()
                t1 = time.monotonic()
                await asyncio.to_thread(serve.start)
                restart_s = time.monotonic() - t1
            await asyncio.sleep(args.am_pace)
    push_s = time.monotonic() - t0
    groups = {
        f'{{}}:{{alertname="KubeAPILatencyHigh", group="g{g:03d}"}}' for g in range(args.groups)
    }
    drain_s, missing = await wait_reports(serve, groups, args.drain_timeout)
    logs = first_logs + serve.logs()
    posts = [
        e for e in logs if e.get("msg") == "request" and e.get("path") == "/webhook/alertmanager"
    ]
    ms = [float(e["ms"]) for e in posts if e.get("status") == 202]
    accepted = [e for e in logs if e.get("msg") == "webhook accepted"]
    span = [e["ts"] for e in accepted]
    incidents = serve.incidents()
    am.stop()
    serve.stop()
    return {
        "phase": "alertmanager", "alerts": pushed, "groups": args.groups,
        "push_s": round(push_s, 2), "notifications_acked": len(ms),
        "incidents": len(incidents), "server_ack_p50_ms": round(pct(ms, 0.5), 2),
        "server_ack_p99_ms": round(pct(ms, 0.99), 2),
        "first_to_last_ack": [span[0], span[-1]] if span else None,
        "restart_s": round(restart_s, 2), "drain_s": round(drain_s, 1),
        "groups_without_report": missing,
    }  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=5000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--phase", choices=["direct", "alertmanager", "both"], default="both")
    parser.add_argument("--am-pace", type=float, default=0.2, help="seconds between AM pushes")
    parser.add_argument("--drain-timeout", type=float, default=1800.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="strata-serve-bench-"))
    results = []
    try:
        if args.phase in ("direct", "both"):
            results.append(await direct(args, work))
            print(json.dumps(results[-1]), flush=True)
        if args.phase in ("alertmanager", "both"):
            results.append(await through_alertmanager(args, work))
            print(json.dumps(results[-1]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if any(r["groups_without_report"] for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    asyncio.run(main())
