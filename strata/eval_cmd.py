"""``strata eval DIR...``: score the diagnosis on a scenario corpus.

Runs every scenario under the given directories (concurrently, bounded), scores each
against its ground truth and prints a table per scenario and a summary, or with
``--json`` exactly one JSON object ``{"summary": ..., "results": [...]}``. A progress bar
goes to stderr when stderr is a terminal. Exit status: 0 when every scenario ran, 1 when
some could not be evaluated (rows with an error), 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from agents.evaluation import EvalResult, EvalRun, summarize

_HELP_SPLIT = "train (70%%) | test (30%%, by sha256 of the directory name) | all (default)"


def add_common(
    p: argparse.ArgumentParser, *, split_default: str, dirs_optional: bool = False
) -> None:
    """Arguments shared by ``eval`` and ``calibrate``."""
    p.add_argument(
        "dirs",
        nargs="*" if dirs_optional else "+",
        metavar="DIR",
        help="scenario dirs or dirs holding them",
    )
    p.add_argument(
        "--model",
        default="none",
        metavar="SPEC",
        help="none (default) | auto | ollama:NAME | openai:BASE_URL:NAME | llamacpp:PATH.gguf",
    )
    p.add_argument(
        "--split", choices=("train", "test", "all"), default=split_default, help=_HELP_SPLIT
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=2,
        metavar="N",
        help="scenarios replayed at once (each starts a Prometheus; default 2)",
    )


def add_parser(subparsers: Any) -> None:
    """Register ``strata eval``."""
    p = subparsers.add_parser("eval", help="score the diagnosis on a corpus of scenarios")
    add_common(p, split_default="all")
    p.add_argument("--json", action="store_true", help="print one JSON object only")
    p.add_argument(
        "--single-agent",
        action="store_true",
        help="evaluate the single-agent baseline (every tool, no reconciliation)",
    )


def _err(message: str) -> None:
    print(f"strata: {message}", file=sys.stderr)


async def collect(args: argparse.Namespace, *, single_agent: bool) -> EvalRun | int:
    """Find the scenarios, open the model and run them; an exit status on bad input."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agents.evaluation import EvalError, discover, run_eval
    from agents.llm import ModelSpecError, resolve

    try:
        paths = discover(args.dirs, args.split)
    except EvalError as exc:
        _err(str(exc))
        return 2
    if not paths:
        _err(f"no scenario directories (with scenario.yaml) in the {args.split} split")
        return 2
    if args.concurrency < 1:
        _err("--concurrency must be at least 1")
        return 2
    try:
        model = await resolve(args.model)
    except ModelSpecError as exc:
        _err(str(exc))
        return 2
    if not model.use.available and args.model != "none":
        _err(f"running without a model: {model.use.note}")
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]eval[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    ) as bar:
        task = bar.add_task("eval", total=len(paths))
        return await run_eval(
            paths,
            model,
            single_agent=single_agent,
            concurrency=args.concurrency,
            on_done=lambda _: bar.advance(task),
        )


def _rc(r: EvalResult, which: str) -> str:
    rc = r.expected if which == "expected" else r.got
    return "-" if rc is None else f"{rc.layer}/{rc.fault}/{rc.component}"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def render(run: EvalRun, summary: dict[str, Any], *, single_agent: bool) -> str:
    """The human report: one row per scenario, then the summary. Pure."""
    rows = [["scenario", "expected", "got", "conf", "verdict", "correct", "seconds"]]
    for r in run.results:
        rows.append(
            [
                Path(r.path).name,
                _rc(r, "expected"),
                "ERROR: " + r.error if r.error else _rc(r, "got"),
                f"{r.confidence:.2f}",
                r.verdict,
                "yes" if r.correct else "no",
                f"{r.seconds:.2f}",
            ]
        )
    s = summary
    mode = "single agent (baseline)" if single_agent else "multi-agent (coordinator)"
    lines = [*_table(rows), ""]
    lines.append(
        f"{mode}: {s['scenarios']} scenarios scored, {s['errors']} errors, "
        f"{s['skipped_unlabelled']} skipped (no ground truth)"
    )
    lines.append(
        f"top-1 {s['top1_accuracy']:.1%}  top-3 {s['top3_accuracy']:.1%}  "
        f"component {s['component_accuracy']:.1%}  abstained {s['abstention_rate']:.1%}"
    )
    lines.append(
        f"ECE {s['ece']:.3f}  Brier {s['brier']:.3f}  confident-wrong {s['confident_wrong']}  "
        f"seconds p50 {s['p50_seconds']:.2f} p95 {s['p95_seconds']:.2f}"
    )
    if s["by_layer"]:
        lines += ["", "by expected layer:"]
        layer_rows = [["layer", "n", "top-1", "component"]]
        for layer, v in s["by_layer"].items():
            layer_rows.append(
                [
                    layer,
                    str(v["scenarios"]),
                    f"{v['top1_accuracy']:.0%}",
                    f"{v['component_accuracy']:.0%}",
                ]
            )
        lines += ["  " + x for x in _table(layer_rows)]
        got_cols = sorted({g for row in s["confusion"].values() for g in row})
        conf_rows = [["expected \\ got", *got_cols]]
        for layer, row in s["confusion"].items():
            conf_rows.append([layer, *(str(row.get(g, 0)) for g in got_cols)])
        lines += ["", "confusion (expected layer x answered layer):"]
        lines += ["  " + x for x in _table(conf_rows)]
    return "\n".join(lines) + "\n"


async def run(args: argparse.Namespace) -> int:
    """``strata eval``."""
    outcome = await collect(args, single_agent=args.single_agent)
    if isinstance(outcome, int):
        return outcome
    summary = summarize(outcome.results, len(outcome.skipped))
    summary["mode"] = "single-agent" if args.single_agent else "multi-agent"
    summary["split"] = args.split
    if args.json:
        doc = {
            "summary": summary,
            "results": [r.to_dict() for r in outcome.results],
            "skipped": list(outcome.skipped),
        }
        print(json.dumps(doc, indent=2))
    else:
        print(render(outcome, summary, single_agent=args.single_agent), end="")
    return 1 if summary["errors"] else 0
