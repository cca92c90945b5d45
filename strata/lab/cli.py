"""``strata lab``: the argparse glue of the fault-injection lab.

``strata lab up|down|status``, ``strata lab inject FAULT [--target X] [--duration D]``,
``strata lab restore [FAULT]``, ``strata lab faults`` and ``strata lab run [--faults all]
[--repeat N] [--out DIR]``. Exit status 0 on success, 1 when something failed, 2 for bad
input (including not being root).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from strata.lab import plan
from strata.lab.state import LabError, LabState, NotRoot, require_root


def _err(message: str) -> None:
    print(f"strata lab: {message}", file=sys.stderr, flush=True)


def _seconds(text: str) -> float:
    from strata.live_cmd import UsageError, parse_window

    try:
        return parse_window(text).total_seconds()
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("--window ", "")) from None


def add_parser(subparsers: Any) -> None:
    """Register ``strata lab`` and its subcommands."""
    lab = subparsers.add_parser("lab", help="fault-injection homelab in network namespaces")
    _fill(lab)


def _fill(lab: argparse.ArgumentParser) -> None:
    sub = lab.add_subparsers(dest="lab_command", metavar="COMMAND", required=True)
    sub.add_parser("up", help="build the lab and start every service (root)")
    sub.add_parser("down", help="remove everything the lab made (root; idempotent)")
    st = sub.add_parser("status", help="namespaces, services and active faults")
    st.add_argument("--json", action="store_true", help="as JSON")
    sub.add_parser("faults", help="list the faults and their ground truth")
    inj = sub.add_parser("inject", help="inject a fault (undone by restore, or after --duration)")
    inj.add_argument("fault", metavar="FAULT")
    inj.add_argument(
        "--target", metavar="X", help="node, switch or DNS server (default: per fault)"
    )
    inj.add_argument(
        "--duration", type=_seconds, default=600.0, metavar="D", help="e.g. 90s, 5m (default 10m)"
    )
    rs = sub.add_parser("restore", help="undo a fault (all active faults without FAULT)")
    rs.add_argument("fault", metavar="FAULT", nargs="?")
    rs.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    r = sub.add_parser("run", help="inject each fault, wait for the alert and the diagnosis, score")
    r.add_argument("--faults", default="all", help="all, or a comma-separated list")
    r.add_argument("--repeat", type=int, default=1, metavar="N", help="rounds (default 1)")
    r.add_argument("--out", type=Path, metavar="DIR", help="results and recorded scenarios")
    r.add_argument("--window", type=_seconds, default=120.0, metavar="D",
                   help="how far back each diagnosis looks (default 2m)")  # fmt: skip
    r.add_argument("--settle", type=_seconds, default=None, metavar="D",
                   help="quiet time before each injection (default: --window plus 15s, so "
                        "that no diagnosis looks back into the previous fault)")  # fmt: skip
    r.add_argument("--alert-timeout", type=_seconds, default=180.0, metavar="D",
                   help="longest wait for an alert after an injection (default 3m)")  # fmt: skip
    r.add_argument("--up", action="store_true", help="bring the lab up first, and down after")
    r.add_argument("--model", default="none", metavar="SPEC", help="none | auto | ollama:NAME")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    """Run ``strata lab ...``."""
    from strata.lab import faults, lifecycle

    directory = plan.state_dir()
    cmd = args.lab_command
    try:
        if cmd == "faults":
            for f in faults.FAULTS.values():
                t = f.truth(f.default_target)
                truth = f"{t.layer}/{t.fault}/{t.component}"
                extra = " (not in --faults all)" if f.name in faults.NOT_SCORED else ""
                print(f"{f.name:<12} {truth:<34} {f.summary}{extra}")
            for name, why in faults.NOT_AVAILABLE.items():
                print(f"{name:<12} (not available) {why}")
            return 0
        if cmd == "status":
            return _status(directory, as_json=args.json)
        require_root()
        if cmd == "up":
            state = lifecycle.up(directory)
            print(f"lab up: {len(state.pids)} services in {len(plan.NAMESPACES)} namespaces")
            print(
                f"  Prometheus    http://{plan.MON_ADDR}:{plan.PROMETHEUS_PORT}  (in {plan.MON_NS})"
            )
            print(f"  Alertmanager  http://{plan.MON_ADDR}:{plan.ALERTMANAGER_PORT}")
            print(f"  switch {plan.SWITCH_NAME}    snmp://{plan.SWITCH_ADDR}:161")
            print(
                f"  config        {directory / 'strata.toml'} (for `ip netns exec {plan.MON_NS} strata ...`)"
            )
            return 0
        if cmd == "down":
            removed = lifecycle.down(directory)
            print("lab down: " + (", ".join(removed) if removed else "nothing was left"))
            return 0
        if cmd == "inject":
            state = LabState.load(directory)
            rec = faults.inject(directory, state, args.fault, args.target, args.duration)
            t = faults.get(args.fault).truth(rec["target"])
            print(f"injected {args.fault} on {rec['target']} for at most {args.duration:g} s "
                  f"(truth: {t.layer}/{t.fault}/{t.component})")  # fmt: skip
            return 0
        if cmd == "restore":
            state = LabState.load(directory)
            names = [args.fault] if args.fault else list(state.faults)
            if args.fault:
                faults.get(args.fault)
            done = [n for n in names if faults.restore(directory, state, n)]
            if not args.quiet:
                print("restored: " + (", ".join(done) if done else "nothing was injected"))
            return 0
        if cmd == "run":
            from strata.lab.runner import run_cli

            return run_cli(args, directory)
    except NotRoot as exc:
        _err(str(exc))
        return 2
    except LabError as exc:
        _err(str(exc))
        return 1
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    _err(f"unknown command {cmd!r}")
    return 2


def _status(directory: Path, *, as_json: bool) -> int:
    from strata.lab import lifecycle

    state, lab_ns, rows = lifecycle.status(directory)
    if as_json:
        body = {
            "up": bool(state and state.up_at),
            "namespaces": lab_ns,
            "services": [{"name": r.label, "pid": r.pid, "running": r.running} for r in rows],
            "faults": state.faults if state else {},
        }
        print(json.dumps(body, indent=2))
        return 0
    if state is None and not lab_ns:
        print("lab down")
        return 0
    print(f"lab {'up since ' + state.up_at if state and state.up_at else 'partly up'}; "
          f"namespaces: {', '.join(lab_ns) or 'none'}")  # fmt: skip
    for r in rows:
        print(f"  {r.label:<22} pid {r.pid:<8} {'running' if r.running else 'NOT RUNNING'}")
    for name, rec in (state.faults if state else {}).items():
        print(f"  fault {name} on {rec.get('target')} since {rec.get('started_at')}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m strata.lab.cli ...`` (the fault watchdogs use it)."""
    p = argparse.ArgumentParser(prog="strata lab")
    _fill(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
