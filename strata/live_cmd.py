"""``strata diagnose`` and ``strata record``: a live incident, from the configured sources.

``strata diagnose --config FILE (--alert FILE.json | --fingerprint FP | --alertname NAME)
[--window 30m] [--at RFC3339] [--json] [--model SPEC]`` opens the incident from a webhook
JSON file or from Alertmanager's alerts (the alert's group, as the webhook would carry
it), investigates the window ending now (or at ``--at``) over the live sources of the
configuration (:func:`tools.live.open_live_sources`) and prints the same report as
``strata replay``, or the Diagnosis JSON. A source that fails is named in the report's
"Could not see"; it never stops the diagnosis.

``strata record ... --out DIR`` does the same through recording proxies and writes the
incident as a format-v1 scenario (:mod:`tools.recording`) that ``strata replay`` replays
to the same diagnosis; it prints what it wrote and the live diagnosis.

Exit status as ``strata replay``: 0 with a diagnosis, 1 when the diagnosis (or the
recording) failed, 2 for bad input (configuration, alert, arguments). Everything
printed or logged is scrubbed of the configuration's secrets. Nothing here changes the
site: the sources are only read, and Alertmanager only queried.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strata.config_cmd import add_config_arg, err, load
from tools.config import StrataConfig

if TYPE_CHECKING:
    from agents.models import Diagnosis
    from tools.recording import RecordingSummary

_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
FUTURE_SLACK_S = 60.0
"""How far ``--at`` may lie ahead of this machine's clock (clock skew)."""


class UsageError(Exception):
    """Bad input: the message is for the user."""


def add_parser(subparsers: Any) -> None:
    """Register ``strata diagnose`` and ``strata record``."""
    d = subparsers.add_parser("diagnose", help="diagnose a live incident from the sources")
    _common(d)
    d.add_argument("--json", action="store_true", help="print the Diagnosis JSON only")
    r = subparsers.add_parser("record", help="record a live incident as a scenario directory")
    _common(r)
    r.add_argument("--out", type=Path, required=True, metavar="DIR", help="scenario to write")


def _common(p: argparse.ArgumentParser) -> None:
    add_config_arg(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--alert", type=Path, metavar="FILE.json", help="a webhook payload")
    which.add_argument("--fingerprint", metavar="FP", help="an alert in Alertmanager")
    which.add_argument("--alertname", metavar="NAME", help="a firing alert group in Alertmanager")
    p.add_argument(
        "--window", metavar="DURATION", help="how far back to look, e.g. 30m, 2h (default: config)"
    )
    p.add_argument(
        "--at", metavar="RFC3339", help="the diagnosis clock (default: now); a past --at "
        "reads Prometheus and Loki as of then, and leaves SNMP and SSH out"
    )  # fmt: skip
    p.add_argument(
        "--model",
        metavar="SPEC",
        help="none | auto | ollama:NAME | openai:BASE_URL:NAME | llamacpp:PATH.gguf "
        "(default: the config's)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.add_argument(
        "--probes", action="store_true", help="show every probe and finding as it happens"
    )


def parse_window(text: str) -> timedelta:
    """``30m``, ``2h``, ``1h30m``, ``90s``, ``1d`` as a duration.

    Raises:
        UsageError: anything else, or zero.
    """
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise UsageError(f"--window {text!r}: expected a duration such as 30m, 2h or 1h30m")
    seconds = sum(int(n) * _UNIT_S[u] for n, u in parts)
    if seconds <= 0:
        raise UsageError("--window must be longer than zero")
    return timedelta(seconds=seconds)


def _floor_ms(ts: datetime) -> datetime:
    """To the millisecond, so the clock written into a recording is exactly this one."""
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


def parse_at(text: str | None) -> datetime | None:
    """``--at`` as an aware UTC time (None: now).

    Raises:
        UsageError: not RFC 3339, or in the future.
    """
    if text is None:
        return None
    from tools.timeutil import parse_ts

    try:
        at = parse_ts(text)
    except ValueError as exc:
        raise UsageError(f"--at: {exc}") from None
    if at > datetime.now(UTC) + timedelta(seconds=FUTURE_SLACK_S):
        raise UsageError(f"--at {text} is in the future")
    return _floor_ms(at)


def webhook_json(payload: Any) -> dict[str, Any]:
    """A :class:`WebhookPayload` as the JSON Alertmanager would POST (endsAt zero if firing)."""
    from tools.alertmanager.webhook import GO_ZERO_TIME

    data: dict[str, Any] = payload.model_dump(mode="json", by_alias=True)
    for alert in data["alerts"]:
        if alert.get("endsAt") is None:
            alert["endsAt"] = GO_ZERO_TIME
    return data


async def alert_from_alertmanager(
    config: StrataConfig, *, fingerprint: str | None, alertname: str | None, now: datetime
) -> dict[str, Any]:
    """The webhook payload of the group holding the alert (the wanted alert first).

    Raises:
        UsageError: no Alertmanager configured, no such alert, or an ambiguous name.
        tools.errors.ToolError: Alertmanager did not answer.
    """
    from tools.alertmanager.api import AlertmanagerAPI

    am = config.alertmanager
    if am is None:
        raise UsageError("--fingerprint and --alertname need [alertmanager] in the configuration")
    async with AlertmanagerAPI(am.url, auth=am.auth, timeout_s=am.timeout_s) as api:
        groups = await api.alert_groups(
            active=True,
            silenced=True,
            inhibited=True,
            matchers={"alertname": alertname} if alertname else None,
        )
        where = api.url
    if fingerprint is not None:
        for group in groups:
            lead = next((a for a in group.alerts if a.fingerprint == fingerprint), None)
            if lead is not None:
                rest = tuple(a for a in group.alerts if a is not lead)
                group = group.model_copy(update={"alerts": (lead, *rest)})
                return webhook_json(group.to_webhook(external_url=where, now=now))
        raise UsageError(f"Alertmanager at {where} has no alert with fingerprint {fingerprint}")
    distinct = {tuple(sorted(a.fingerprint for a in g.alerts)): g for g in groups if g.alerts}
    if not distinct:
        raise UsageError(f"Alertmanager at {where} has no alert named {alertname!r}")
    if len(distinct) > 1:
        choices = "; ".join(
            ", ".join(a.fingerprint for a in g.alerts) + f" (group {g.labels})"
            for g in distinct.values()
        )
        raise UsageError(
            f"{alertname!r} is in several groups; pick one with --fingerprint: {choices}"
        )
    group = next(iter(distinct.values()))
    return webhook_json(group.to_webhook(external_url=where, now=now))


async def _alert(args: argparse.Namespace, config: StrataConfig, now: datetime) -> dict[str, Any]:
    if args.alert is None:
        return await alert_from_alertmanager(
            config, fingerprint=args.fingerprint, alertname=args.alertname, now=now
        )
    try:
        data = json.loads(args.alert.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--alert {args.alert}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"--alert {args.alert}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"--alert {args.alert}: not a webhook payload (a JSON object)")
    return data


async def _run(args: argparse.Namespace) -> int:
    from agents.coordinator import diagnose
    from agents.llm import ModelLimits, ModelSpecError, resolve
    from agents.models import Incident
    from strata.report import render_text
    from tools.alertmanager.webhook import parse_webhook
    from tools.errors import ToolError
    from tools.live import open_live_sources
    from tools.recording import Recorder, RecordingError, check_empty

    loaded = load(args.config)
    if loaded is None:
        return 2
    config, redact = loaded
    recording = args.command == "record"

    def say(message: str) -> None:
        err(redact(message))

    def progress(who: str, what: str) -> None:
        if args.quiet or (not args.probes and what.startswith(("probe ", "finding "))):
            return
        print(redact(f"  [{who}] {what}"), file=sys.stderr, flush=True)

    try:
        window = (
            parse_window(args.window)
            if args.window
            else timedelta(seconds=round(config.window_minutes * 60))
        )
        at = parse_at(args.at)
        if recording:
            check_empty(args.out)
        alert_data = await _alert(args, config, at or datetime.now(UTC))
        alert = parse_webhook(alert_data)
        model = await resolve(
            args.model or config.model.spec,
            limits=ModelLimits(**config.model.model_dump(exclude={"spec"})),
        )
    except (UsageError, ToolError, ModelSpecError) as exc:
        say(f"{exc.title}: {exc}" if isinstance(exc, ToolError) else str(exc))
        return 2
    if not model.use.available and (args.model or config.model.spec) != "none":
        say(f"running without a model: {model.use.note}")

    started = time.perf_counter()
    progress("sources", "opening the live sources")
    async with open_live_sources(config, at) as live:
        observed_at = at or _floor_ms(datetime.now(UTC))
        setup_s = time.perf_counter() - started
        have = [n for n in ("metrics", "logs", "snmp", "ssh") if getattr(live, n) is not None]
        progress("sources", f"ready in {setup_s:.2f}s: {', '.join(have) or 'none'}")
        for note in live.notes:
            progress("sources", note)
        incident = Incident(
            alert=alert,
            observed_at=observed_at,
            window_start=observed_at - window,
            topology=config.topology,
        )
        recorder = Recorder(live) if recording else None
        sources = recorder.sources if recorder is not None else live
        diagnosis = await diagnose(incident, sources, model, progress=progress, setup_s=setup_s)
        if recorder is not None:
            progress("record", f"writing {args.out}")
            try:
                summary = await recorder.write(
                    args.out,
                    alert=alert_data,
                    observed_at=observed_at,
                    window_start=incident.window_start,
                    topology=config.topology,
                    prometheus=config.prometheus if live.metrics is not None else None,
                    redact=redact,
                )
            except RecordingError as exc:
                say(f"{exc.title}: {exc}")
                return 1
    if recorder is not None:
        print(redact(_render_summary(summary, diagnosis)), end="")
    elif args.json:
        print(json.dumps(redact.data(json.loads(diagnosis.to_json())), indent=2))
    else:
        print(redact(render_text(diagnosis)), end="")
    return 1 if diagnosis.verdict == "failed" else 0


def _render_summary(summary: RecordingSummary, diagnosis: Diagnosis) -> str:
    units = {
        "metrics.om": "series",
        "logs.jsonl": "log lines",
        "snmp.jsonl": "varbinds",
        "ssh.jsonl": "commands",
    }
    lines = [f"recorded {summary.path}"]
    for name, count in summary.files.items():
        lines.append(f"  {name:<12} {count} {units.get(name, '')}".rstrip())
    lines.append("  alert.json, scenario.yaml")
    for note in summary.notes:
        lines.append(f"  note: {note}")
    rc = diagnosis.root_cause
    found = f"{rc.layer} / {rc.fault} / {rc.component}" if rc else f"failed: {diagnosis.error}"
    lines.append(
        f"live diagnosis: {found} (confidence {diagnosis.confidence:.2f}, {diagnosis.verdict})"
    )
    lines.append(f"replay it with: strata replay {summary.path}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    """Run ``strata diagnose`` or ``strata record``."""
    import asyncio

    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        err("interrupted")
        return 130
