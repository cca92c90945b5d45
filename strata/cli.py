"""The ``strata`` command line. The only place that prints or exits.

Subcommands:
    replay SCENARIO_DIR [--json] [--model SPEC]   diagnose a recorded incident
    validate SCENARIO_DIR...                      check scenarios against format v1
    schema                                        print the Diagnosis JSON Schema
    eval DIR... [--json] [--single-agent]         score the diagnosis on a scenario corpus
    calibrate DIR... --out FILE                   fit confidence calibration on a corpus
    scenarios generate --seed N --count K --out DIR   write a generated scenario corpus
    config check [--config FILE]                  does every configured source answer?
    diagnose (--alert F | --fingerprint FP | --alertname N) [--at T]   a live incident
    record (--alert F | --fingerprint FP | --alertname N) --out DIR    a live incident as a scenario
    serve (--scenario DIR | --config FILE) [--listen H:P] [--token-file F]   the webhook service
    tui [--scenario DIR | --config FILE | --server URL]   the terminal UI
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "10_stp_loop_dns_symptoms"


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strata",
        description="Layered, calibrated incident diagnosis. Strata never changes your systems.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rp = sub.add_parser("replay", help="diagnose a recorded incident (scenario directory)")
    rp.add_argument(
        "scenario",
        nargs="?",
        default=None,
        help=f"scenario directory (default: the embedded {DEFAULT_SCENARIO.name})",
    )
    rp.add_argument("--json", action="store_true", help="print the Diagnosis JSON only")
    rp.add_argument(
        "--model",
        default="auto",
        metavar="SPEC",
        help="none | auto (Ollama if it answers, else none; default) | ollama:NAME | "
        "openai:BASE_URL:NAME | llamacpp:PATH.gguf (docs/models.md)",
    )
    rp.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    rp.add_argument(
        "--probes", action="store_true", help="show every probe and finding as it happens"
    )

    vp = sub.add_parser("validate", help="check scenario directories against format v1")
    vp.add_argument("scenarios", nargs="+", help="scenario directories")

    sub.add_parser("schema", help="print the JSON Schema of the Diagnosis JSON")

    from strata import calibrate_cmd, eval_cmd

    eval_cmd.add_parser(sub)
    calibrate_cmd.add_parser(sub)
    from strata import scenarios_cmd

    scenarios_cmd.add_parser(sub)
    from strata import config_cmd, live_cmd

    config_cmd.add_parser(sub)
    live_cmd.add_parser(sub)
    from strata.serve import cli as serve_cmd

    serve_cmd.add_parser(sub)
    from strata.lab import cli as lab_cmd

    lab_cmd.add_parser(sub)
    from tui import cli as tui_cmd

    tui_cmd.add_parser(sub)
    return parser


def _validate(args: argparse.Namespace) -> int:
    from tools.scenario.loader import ScenarioError, load_scenario

    failed = 0
    for path in args.scenarios:
        try:
            s = load_scenario(path)
        except ScenarioError as exc:
            failed += 1
            print(f"FAIL {exc}")
            continue
        have = [
            name
            for name, present in (
                ("metrics", s.metrics_path is not None),
                ("logs", s.logs is not None),
                ("snmp", s.snmp is not None),
                ("ssh", s.ssh is not None),
            )
            if present
        ]
        print(f"ok   {path} ({s.meta.id}; sources: {', '.join(have) or 'alert only'})")
    return 1 if failed else 0


def _schema() -> int:
    import json

    from agents.models import Diagnosis

    print(json.dumps(Diagnosis.model_json_schema(mode="serialization"), indent=2))
    return 0


def _err(message: str) -> None:
    print(f"strata: {message}", file=sys.stderr)


async def _replay(args: argparse.Namespace) -> int:
    from agents.llm import ModelSpecError, resolve
    from agents.replay import replay
    from strata.report import render_text
    from tools.errors import ToolError

    path = Path(args.scenario) if args.scenario else DEFAULT_SCENARIO
    try:
        model = await resolve(args.model)
    except ModelSpecError as exc:
        _err(str(exc))
        return 2
    if not model.use.available:
        _err(f"running without a model: {model.use.note}")

    def progress(who: str, what: str) -> None:
        if args.quiet or (not args.probes and what.startswith(("probe ", "finding "))):
            return
        print(f"  [{who}] {what}", file=sys.stderr, flush=True)

    try:
        diagnosis = await replay(path, model, progress=progress)
    except ToolError as exc:
        _err(f"{exc.title}: {exc}")
        return 2
    if args.json:
        print(diagnosis.to_json())
    else:
        print(render_text(diagnosis), end="")
    return 1 if diagnosis.verdict == "failed" else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``strata`` console script."""
    args = _build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command == "validate":
        return _validate(args)
    if args.command == "schema":
        return _schema()
    if args.command == "scenarios":
        from strata import scenarios_cmd

        return scenarios_cmd.run(args)
    if args.command in ("config", "diagnose", "record"):
        from strata import config_cmd, live_cmd

        return config_cmd.run(args) if args.command == "config" else live_cmd.run(args)
    if args.command == "serve":
        from strata.serve import cli as serve_cmd

        return serve_cmd.run(args)
    if args.command == "lab":
        from strata.lab import cli as lab_cmd

        return lab_cmd.run(args)
    if args.command == "tui":
        from tui import cli as tui_cmd

        return tui_cmd.run(args)
    if args.command in ("replay", "eval", "calibrate"):
        from strata import calibrate_cmd, eval_cmd

        runner = {"replay": _replay, "eval": eval_cmd.run, "calibrate": calibrate_cmd.run}
        try:
            return asyncio.run(runner[args.command](args))
        except KeyboardInterrupt:
            _err("interrupted")
            return 130
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
