"""``strata lab run``: inject each fault, wait for the alert and the diagnosis, score it.

The run starts ``strata serve --config`` in the monitoring namespace, where Alertmanager's
webhook points. For every fault: wait until the lab is quiet (no alert firing, ``--settle``
seconds since the last fault), inject it, wait (bounded) for Alertmanager to fire an alert
that started after the injection, wait for the incident ``strata serve`` opened from that
alert's webhook to be diagnosed, score its diagnosis against the fault's ground truth,
record the incident as a labelled format-v1 scenario (what ``strata record`` does: the
same diagnosis, at the same clock, through recording proxies), restore, and go on. The
results table has the eval's figures: accuracy, confidence, calibration (ECE, Brier),
time from fault to alert and from alert to diagnosis.

The process moves itself into the monitoring namespace first (only its network namespace:
mounts stay the host's, which the disk fault needs), so every source is reached at its
10.200.0.x address. ``strata serve`` polls the switch over SNMP for as long as it runs, as
a monitoring system does, and so does the run, for its recordings; each diagnosis sees
the switch's counters from before the fault. Scoring reads the ground truth here; the
specialists never see it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from strata.lab import faults, lifecycle, plan
from strata.lab.services import serve_token_path
from strata.lab.state import LabError, LabState, require_root

CLONE_NEWNET = 0x40000000
ALERT_POLL_S = 2.0
GROUP_WAIT_S = 30.0
"""Alertmanager's group_wait (its default, and the lab's): the webhook for a new alert
group goes out this long after the alert fires, and that is when a diagnosis starts."""
SETTLE_MARGIN_S = 15.0
"""The default ``--settle`` is the window plus this: Alertmanager may deliver a webhook at
once (a new alert in a group it still holds), so the window can start right after the
injection's settle began."""
SERVE_READY_S = 60.0
"""Longest wait for ``strata serve`` to answer ``/readyz``."""
DONE = frozenset({"diagnosed", "abstained", "failed", "resolved"})
"""Incident states of ``strata serve`` whose report is (or may be) written."""
OPEN = frozenset({"queued", "diagnosing", "diagnosed", "abstained"})
"""Incident states of ``strata serve`` whose alerts have not resolved."""


def enter_netns(ns: str) -> None:
    """Move this process (its only thread) into network namespace ``ns``.

    Must run before any thread is started: threads started later inherit it.

    Raises:
        LabError: the namespace does not exist or setns(2) failed.
    """
    try:
        fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    except OSError as exc:
        raise LabError(f"namespace {ns} does not exist ({exc.strerror}): is the lab up?") from None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise LabError(f"setns({ns}): {os.strerror(err)}")
    finally:
        os.close(fd)


@dataclass
class Row:
    """One injected fault and what came of it."""

    fault: str
    target: str
    expected: str
    round: int = 1
    alertname: str | None = None
    fault_to_alert_s: float | None = None
    alert_to_diagnosis_s: float | None = None
    """From the alert firing to the diagnosis, including Alertmanager's group_wait."""
    diagnosis_s: float | None = None
    """How long the diagnosis itself took."""
    answer_correct: bool = False
    """The named root cause is right, whatever the verdict."""
    verdict: str = "no alert"
    got: str | None = None
    confidence: float = 0.0
    correct: bool = False
    layer_fault: bool = False
    scenario: str | None = None
    incident: str | None = None
    """``strata serve``'s incident id."""
    notes: list[str] = field(default_factory=list)


def summarize(rows: list[Row]) -> dict[str, Any]:
    """The results' headline figures (as ``strata eval``'s, plus the lab's timings)."""
    from agents.evaluation import brier, ece, quantile

    n = len(rows)
    conf = [r.confidence for r in rows]
    ok = [r.correct for r in rows]
    alert_s = [r.fault_to_alert_s for r in rows if r.fault_to_alert_s is not None]
    diag_s = [r.alert_to_diagnosis_s for r in rows if r.alert_to_diagnosis_s is not None]
    run_s = [r.diagnosis_s for r in rows if r.diagnosis_s is not None]

    def med(xs: list[float]) -> float | None:
        return round(quantile(xs, 0.5), 2) if xs else None

    return {
        "injected": n,
        "alerted": sum(r.alertname is not None for r in rows),
        "correct": sum(ok),
        "accuracy": round(sum(ok) / n, 3) if n else 0.0,
        "layer_fault_accuracy": round(sum(r.layer_fault for r in rows) / n, 3) if n else 0.0,
        "mean_confidence_correct": round(
            sum(c for c, k in zip(conf, ok, strict=True) if k) / max(1, sum(ok)), 3
        ),
        "mean_confidence_wrong": round(
            sum(c for c, k in zip(conf, ok, strict=True) if not k) / max(1, n - sum(ok)), 3
        ),
        "ece": round(ece(conf, ok), 3) if n else 0.0,
        "brier": round(brier(conf, ok), 3) if n else 0.0,
        "median_fault_to_alert_s": med(alert_s),
        "median_alert_to_diagnosis_s": med(diag_s),
        "median_diagnosis_s": med(run_s),
        "answer_correct": sum(r.answer_correct for r in rows),
    }


def render_table(rows: list[Row], summary: dict[str, Any]) -> str:
    """The results as a plain-text table and a summary line."""
    head = f"{'fault':<12} {'target':<8} {'alert':<30} {'→alert':>7} {'→diag':>6}  {'diagnosis':<36} {'conf':>5}  ok"
    lines = [head, "-" * len(head)]
    for r in rows:
        t1 = f"{r.fault_to_alert_s:.0f}s" if r.fault_to_alert_s is not None else "-"
        t2 = f"{r.alert_to_diagnosis_s:.1f}s" if r.alert_to_diagnosis_s is not None else "-"
        got = r.got or r.verdict
        lines.append(
            f"{r.fault:<12} {r.target:<8} {(r.alertname or '-'):<30} {t1:>7} {t2:>6}  "
            f"{got[:36]:<36} {r.confidence:>5.2f}  {'yes' if r.correct else 'NO'}"
        )
    s = summary
    lines.append("")
    lines.append(
        f"accuracy {s['correct']}/{s['injected']} ({s['accuracy']:.0%}); layer+fault "
        f"{s['layer_fault_accuracy']:.0%}; confidence correct {s['mean_confidence_correct']:.2f}"
        f" / wrong {s['mean_confidence_wrong']:.2f}; ECE {s['ece']:.3f}; Brier {s['brier']:.3f}; "
        f"median fault→alert {s['median_fault_to_alert_s']} s, alert→diagnosis "
        f"{s['median_alert_to_diagnosis_s']} s"
    )
    return "\n".join(lines) + "\n"


def fault_list(spec: str) -> list[str]:
    """``all`` or ``a,b,c`` as fault names.

    Raises:
        LabError: an unknown name.
    """
    if spec.strip() == "all":
        # Every fault this machine can inject (the others are named when the run starts).
        return [
            n for n in faults.FAULTS if n not in faults.NOT_SCORED and not faults.unavailable(n)
        ]
    names = [n.strip() for n in spec.split(",") if n.strip()]
    for n in names:
        faults.get(n)
    if not names:
        raise LabError("--faults names no fault")
    return names


class Lab:
    """The run's live sources and helpers (inside the monitoring namespace)."""

    def __init__(self, directory: Path, args: argparse.Namespace) -> None:
        from tools.config import load_config
        from tools.recording import Redactor

        self.directory = directory
        self.args = args
        self.config = load_config(directory / "strata.toml")
        self.redact = Redactor(self.config.secrets())
        self.last_restore = time.monotonic()
        self.restored_at = datetime.now(UTC) - timedelta(days=1)  # no fault before the run
        token = serve_token_path(directory)
        self.token = token.read_text().strip() if token.exists() else ""
        self.serve_url = f"http://{plan.MON_ADDR}:{plan.SERVE_PORT}"

    def serve_client(self, timeout_s: float) -> Any:
        """An HTTP client for ``strata serve``'s API, with the lab's bearer token."""
        import httpx

        return httpx.AsyncClient(
            base_url=self.serve_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=timeout_s,
        )

    def say(self, message: str) -> None:
        if not self.args.quiet:
            stamp = datetime.now(UTC).strftime("%H:%M:%S")
            print(f"[{stamp}] {message}", file=sys.stderr, flush=True)

    def serve_config(self, out: Path) -> Path:
        """The lab's strata.toml with the run's window and model, for ``strata serve``."""
        text = (self.directory / "strata.toml").read_text(encoding="utf-8")
        text = re.sub(r"(?m)^window_minutes = .*$",
                      f"window_minutes = {self.args.window / 60:g}", text)  # fmt: skip
        text = re.sub(r'(?m)^spec = ".*"$', f"spec = {json.dumps(self.args.model)}", text)
        path = out / "serve" / "strata.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    @contextlib.asynccontextmanager
    async def serve(self, out: Path) -> AsyncIterator[None]:
        """``strata serve --config`` where Alertmanager's webhook points, for the run."""
        import httpx

        if not self.token:
            raise LabError("the lab has no serve token: bring it down and up again")
        data = out / "serve"
        argv = [
            sys.executable, "-m", "strata", "serve",
            "--config", str(self.serve_config(out)),
            "--listen", f"{plan.MON_ADDR}:{plan.SERVE_PORT}",
            "--token-file", str(serve_token_path(self.directory)),
            "--data-dir", str(data),
            "--workers", "1",
            "--flap-interval", "1",
        ]  # fmt: skip
        log = (data / "serve.log").open("ab")
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + SERVE_READY_S
            async with self.serve_client(2.0) as client:
                while True:
                    if proc.returncode is not None:
                        raise LabError(
                            f"strata serve exited ({proc.returncode}): see {data}/serve.log"
                        )
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get("/readyz")).status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        raise LabError(f"strata serve not ready after {SERVE_READY_S:.0f} s: "
                                       f"see {data}/serve.log")  # fmt: skip
                    await asyncio.sleep(0.5)
            self.say(f"strata serve ready at {self.serve_url} (logs: {data}/serve.log)")
            yield
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 15)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            log.close()

    async def served_diagnosis(
        self, alertname: str, since: datetime, limit_s: float
    ) -> dict[str, Any] | None:
        """The first incident ``strata serve`` opened for ``alertname`` at or after
        ``since``, once its report is written (None: not within ``limit_s``)."""
        import httpx

        deadline = time.monotonic() + limit_s
        slack = timedelta(seconds=5)
        async with self.serve_client(10.0) as client:
            while time.monotonic() < deadline:
                try:
                    listed = (await client.get("/api/incidents", params={"limit": 50})).json()
                    for inc in reversed(listed.get("incidents", [])):
                        received = datetime.fromisoformat(inc["received_at"])
                        if inc["alertname"] != alertname or received < since - slack:
                            continue
                        if inc["status"] in DONE:
                            detail = (await client.get(f"/api/incidents/{inc['id']}")).json()
                            if detail.get("diagnosis"):
                                return dict(detail)
                        break
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    self.say(f"strata serve: {exc}")
                await asyncio.sleep(ALERT_POLL_S)
        return None

    @contextlib.asynccontextmanager
    async def sources(self) -> AsyncIterator[None]:
        """The switch, polled for the whole run as serve polls it, for the recordings."""
        from tools.live import open_polled_snmp

        async with open_polled_snmp(self.config) as snmp:
            assert snmp is not None, "the lab's strata.toml names its switch"
            self.snmp = snmp
            yield

    async def firing(self) -> list[Any]:
        from tools.alertmanager.api import AlertmanagerAPI
        from tools.errors import ToolError

        am = self.config.alertmanager
        assert am is not None
        try:
            async with AlertmanagerAPI(am.url, auth=am.auth, timeout_s=5.0) as api:
                return list(await api.alerts(active=True))
        except ToolError as exc:
            self.say(f"alertmanager: {exc.message}")
            return []

    async def wait_quiet(self, settle_s: float, limit_s: float) -> None:
        """Until no alert fires, ``strata serve`` has closed every incident (it got the
        resolved webhooks: a group still open there would absorb the next fault's alert
        as an update), and ``settle_s`` passed since the last restore (bounded)."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            quiet_for = time.monotonic() - self.last_restore
            if quiet_for >= settle_s and not await self.firing() and not await self.open():
                return
            await asyncio.sleep(ALERT_POLL_S)
        names = sorted({a.labels.get("alertname", "?") for a in await self.firing()})
        self.say(f"still firing after {limit_s:.0f} s: {', '.join(names) or 'none'}; going on")

    async def open(self) -> list[str]:
        """Alert names of the incidents ``strata serve`` still has open."""
        import httpx

        try:
            async with self.serve_client(5.0) as client:
                listed = (await client.get("/api/incidents", params={"limit": 50})).json()
        except (httpx.HTTPError, ValueError) as exc:
            self.say(f"strata serve: {exc}")
            return []
        return [i["alertname"] for i in listed.get("incidents", []) if i["status"] in OPEN]

    async def wait_alert(self, since: datetime, limit_s: float) -> Any | None:
        """The first alert that started firing at or after ``since`` (None: none in time)."""
        deadline = time.monotonic() + limit_s
        slack = timedelta(seconds=5)
        while time.monotonic() < deadline:
            fresh = [a for a in await self.firing() if a.starts_at >= since - slack]
            if fresh:
                return min(fresh, key=lambda a: a.starts_at)
            await asyncio.sleep(ALERT_POLL_S)
        return None

    async def one(self, name: str, rnd: int, index: int, out: Path) -> Row:
        from agents.models import Diagnosis
        from agents.scoring import component_matches, score
        from strata.live_cmd import UsageError
        from tools.errors import ToolError

        fault = faults.get(name)
        target = fault.default_target
        truth = fault.truth(target)
        row = Row(name, target, f"{truth.layer}/{truth.fault}/{truth.component}", round=rnd)
        args = self.args
        await self.wait_quiet(args.settle, limit_s=args.settle + 240)
        state = LabState.load(self.directory)
        duration = args.alert_timeout * 2 + 120
        self.say(f"inject {name} on {target} (expect {row.expected})")
        injected = datetime.now(UTC)
        t0 = time.monotonic()
        faults.inject(self.directory, state, name, target, duration)
        try:
            alert = await self.wait_alert(injected, args.alert_timeout)
            if alert is None:
                row.notes.append(f"no alert within {args.alert_timeout:.0f} s")
                self.say(f"{name}: no alert within {args.alert_timeout:.0f} s")
                return row
            row.fault_to_alert_s = round(time.monotonic() - t0, 1)
            row.alertname = alert.labels.get("alertname") or "?"
            self.say(f"{name}: {row.alertname} fired after {row.fault_to_alert_s:.0f} s")
            t1 = time.monotonic()
            # Alertmanager sends the group's webhook after group_wait; strata serve queues
            # the incident and diagnoses it over the live sources.
            served = await self.served_diagnosis(
                row.alertname, injected, GROUP_WAIT_S + args.alert_timeout
            )
            if served is None:
                row.verdict = "no diagnosis"
                row.notes.append("strata serve reported no diagnosis in time")
                self.say(f"{name}: strata serve reported no diagnosis in time")
                return row
            row.alert_to_diagnosis_s = round(time.monotonic() - t1, 2)
            row.incident = str(served.get("id"))
            diagnosis = Diagnosis.model_validate(served["diagnosis"])
            looked_from = diagnosis.incident.observed_at - timedelta(seconds=args.window)
            if looked_from < self.restored_at:
                row.notes.append("its window reached back into the previous fault")
            row.diagnosis_s = round(diagnosis.timings.total_s, 2)
            (out / "diagnoses").mkdir(parents=True, exist_ok=True)
            (out / "diagnoses" / f"{index:02d}_{name}.json").write_text(diagnosis.to_json())
            row.verdict = diagnosis.verdict
            rc = diagnosis.root_cause
            row.got = f"{rc.layer}/{rc.fault}/{rc.component}" if rc else None
            row.confidence = round(diagnosis.confidence, 3)
            s = score(diagnosis, truth.layer, truth.fault, truth.component)
            row.correct, row.layer_fault = s.correct, s.layer_fault
            row.answer_correct = (
                rc is not None
                and (rc.layer, rc.fault) == (truth.layer, truth.fault)
                and component_matches(rc.component, truth.component)
            )
            self.say(
                f"{name}: {row.verdict} {row.got} ({row.confidence:.2f}) "
                f"{'correct' if row.correct else 'WRONG'}, {row.alert_to_diagnosis_s:.1f} s "
                "after the alert"
            )
            try:
                await self.record(row, index, name, truth, fault.summary, served, out)
            except (LabError, ToolError, UsageError) as exc:
                # The diagnosis stands; only its recording is missing.
                row.notes.append(f"not recorded: {exc}")
                self.say(f"{name}: not recorded: {exc}")
            return row
        finally:
            faults.restore(self.directory, LabState.load(self.directory), name)
            self.last_restore = time.monotonic()
            self.restored_at = datetime.now(UTC)

    async def record(
        self,
        row: Row,
        index: int,
        name: str,
        truth: faults.Truth,
        summary: str,
        detail: dict[str, Any],
        out: Path,
    ) -> None:
        """Save the incident as a labelled scenario, as ``strata record`` does: diagnose it
        again at the served diagnosis' clock and window, through recording proxies, for
        the alert group serve was notified of."""
        from agents.coordinator import diagnose
        from agents.llm import resolve
        from agents.models import Diagnosis, Incident
        from tools.alertmanager.webhook import parse_webhook
        from tools.live import open_live_sources
        from tools.recording import Recorder, RecordingError

        served = Diagnosis.model_validate(detail["diagnosis"])
        observed_at = served.incident.observed_at
        am = self.config.alertmanager
        payload = served_webhook(detail, am.url if am else "")
        incident = Incident(
            alert=parse_webhook(payload),
            observed_at=observed_at,
            window_start=observed_at - timedelta(seconds=self.args.window),
            topology=self.config.topology,
        )
        # The sources strata record opens, with the run's polled switch (its history).
        async with open_live_sources(self.config, observed_at, snmp=self.snmp) as live:
            recorder = Recorder(live)
            again = await diagnose(incident, recorder.sources, await resolve("none"))
            scen = out / "scenarios" / f"{index:02d}_{name}"
            try:
                await recorder.write(
                    scen,
                    alert=payload,
                    observed_at=observed_at,
                    window_start=incident.window_start,
                    topology=self.config.topology,
                    prometheus=self.config.prometheus if live.metrics is not None else None,
                    redact=self.redact,
                )
                label(scen, truth, summary)
                row.scenario = str(scen)
            except RecordingError as exc:
                row.notes.append(f"not recorded: {exc.message}")
        rc, first = again.root_cause, served.root_cause
        if (rc and (rc.layer, rc.fault, rc.component)) != (
            first and (first.layer, first.fault, first.component)
        ):
            row.notes.append(
                "the recording's replay names "
                + (f"{rc.layer}/{rc.fault}/{rc.component}" if rc else "nothing")
            )


def served_webhook(detail: dict[str, Any], external_url: str) -> dict[str, Any]:
    """The Alertmanager webhook (v4) of a ``strata serve`` incident: its group and the
    alerts of the latest notification it absorbed, the lead alert first.

    The group's alerts may have left Alertmanager by the time the run records the incident
    (one instance's alert resolves while another still fires); serve kept them.
    """
    alerts = [dict(a) for a in detail.get("alerts") or []]
    lead = ((detail.get("diagnosis") or {}).get("incident") or {}).get("fingerprint")
    alerts.sort(key=lambda a: a.get("fingerprint") != lead)  # stable: the rest keep order
    if not alerts:
        raise LabError(f"strata serve's incident {detail.get('id')} carries no alerts")
    firing = any(a.get("status") == "firing" for a in alerts)
    labels = [a.get("labels") or {} for a in alerts]
    common = {k: v for k, v in labels[0].items() if all(x.get(k) == v for x in labels)}
    return {
        "version": "4",
        "groupKey": detail.get("group_key") or "",
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": "strata",
        "groupLabels": {"alertname": detail.get("alertname") or ""},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": external_url,
        "alerts": alerts,
    }


def label(scenario: Path, truth: faults.Truth, summary: str) -> None:
    """Add the injected fault as ground truth to a recorded scenario's ``scenario.yaml``."""
    path = scenario / "scenario.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["ground_truth"] = {
        "layer": truth.layer,
        "fault": truth.fault,
        "component": truth.component,
        "explanation": f"Injected by strata lab: {summary}.",
    }
    tags = list(data.get("tags") or [])
    data["tags"] = [*tags, "lab"] if "lab" not in tags else tags
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


async def run_all(directory: Path, args: argparse.Namespace, out: Path) -> list[Row]:
    """Every fault of ``--faults``, ``--repeat`` times, one after another."""
    from strata.live_cmd import UsageError
    from tools.errors import ToolError

    lab = Lab(directory, args)
    names = fault_list(args.faults)
    if args.faults.strip() == "all":
        for name in faults.FAULTS:
            if why := faults.unavailable(name):
                lab.say(f"{name}: left out, it cannot be injected here: {why}")
    rows: list[Row] = []
    async with lab.sources(), lab.serve(out):
        # The first diagnosis needs a quiet early window of switch polls too.
        warm = max(args.settle, args.window / 2)
        lab.say(f"{len(names)} faults × {args.repeat}; letting the lab settle {warm:.0f} s")
        await asyncio.sleep(max(0.0, warm - args.settle))
        lab.last_restore = time.monotonic()
        index = 0
        for rnd in range(1, args.repeat + 1):
            for name in names:
                index += 1
                try:
                    rows.append(await lab.one(name, rnd, index, out))
                except (LabError, ToolError, UsageError) as exc:
                    # One fault that could not be run is a row, not the end of the run.
                    lab.say(f"{name}: {exc}")
                    truth = faults.get(name).truth(faults.get(name).default_target)
                    row = Row(name, faults.get(name).default_target,
                              f"{truth.layer}/{truth.fault}/{truth.component}", round=rnd,
                              verdict="error", notes=[str(exc)])  # fmt: skip
                    rows.append(row)
                write_results(out, rows)
    return rows


def write_results(out: Path, rows: list[Row]) -> dict[str, Any]:
    """``results.json`` and ``results.txt`` in ``out``; return the summary."""
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(rows)
    body = {"summary": summary, "results": [asdict(r) for r in rows]}
    (out / "results.json").write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    (out / "results.txt").write_text(render_table(rows, summary), encoding="utf-8")
    return summary


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run_cli(args: argparse.Namespace, directory: Path) -> int:
    """``strata lab run``: 0 when every fault was diagnosed correctly, 1 otherwise."""
    require_root()
    if args.repeat < 1:
        raise LabError("--repeat must be at least 1")
    if args.settle is None:
        args.settle = args.window + SETTLE_MARGIN_S
    fault_list(args.faults)
    out: Path = args.out or Path(f"lab-results-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    if out.exists() and any(out.iterdir()):
        raise LabError(f"--out {out}: not empty")
    if args.up:
        lifecycle.up(directory)
    try:
        state = LabState.load(directory)
        if not state.up_at:
            raise LabError("the lab is not up: run `strata lab up` first (or pass --up)")
        enter_netns(plan.MON_NS)
        # SIGTERM stops the run as Ctrl-C does: restore, stop strata serve, write results.
        signal.signal(signal.SIGTERM, _interrupt)
        rows = asyncio.run(run_all(directory, args, out.resolve()))
    finally:
        state = LabState.load(directory)
        for name in list(state.faults):
            faults.restore(directory, state, name)
        if args.up:
            lifecycle.down(directory)
    summary = write_results(out, rows)
    print(render_table(rows, summary), end="")
    print(f"results: {out / 'results.json'}; scenarios: {out / 'scenarios'}")
    return 0 if rows and all(r.correct for r in rows) else 1
