"""``strata tui``: argument parsing and start-up (the only place in tui/ that exits)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent / "scenarios"


def add_parser(subparsers: Any) -> None:
    """Register ``strata tui``."""
    p = subparsers.add_parser(
        "tui", help="the terminal UI: incidents, live investigations, evidence"
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--scenario",
        type=Path,
        metavar="DIR",
        help="a recorded scenario, or a directory of them (default: the embedded corpus)",
    )
    src.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="live: Alertmanager and sources of a strata.toml",
    )
    src.add_argument(
        "--server", metavar="URL", help="a running strata serve, e.g. http://127.0.0.1:9095"
    )
    p.add_argument("--token-file", type=Path, metavar="FILE", help="bearer token for --server")
    p.add_argument(
        "--model", metavar="SPEC", help="none | auto | ollama:NAME (default: auto, or the config's)"
    )
    p.add_argument(
        "--theme", choices=("dark", "light"), default=os.environ.get("STRATA_THEME", "dark")
    )
    p.add_argument(
        "--poll",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="refresh period for --server and --config (0: only on r)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the UI until the operator quits. Exit 2 for bad arguments or configuration."""
    from tui.app import StrataApp
    from tui.providers import (
        LiveProvider,
        Provider,
        ProviderError,
        ScenarioProvider,
        ServerProvider,
        scenario_dirs,
    )

    if args.theme not in ("dark", "light"):  # a default from STRATA_THEME skips argparse's check
        print(f"strata: theme {args.theme!r}: expected dark or light", file=sys.stderr)
        return 2
    provider: Provider
    model_spec = args.model or "auto"
    poll: float | None = None
    if args.server:
        token = None
        if args.token_file is not None:
            try:
                token = args.token_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                print(f"strata: --token-file: {exc}", file=sys.stderr)
                return 2
        provider = ServerProvider(args.server, token=token)
        poll = args.poll or None
    elif args.config:
        from strata.config_cmd import load

        loaded = load(str(args.config))
        if loaded is None:
            return 2
        config, _redact = loaded
        provider = LiveProvider(config)
        model_spec = args.model or config.model.spec
        poll = args.poll or None
    else:
        path = args.scenario or DEFAULT_CORPUS
        try:
            provider = ScenarioProvider(scenario_dirs(path))
        except ProviderError as exc:
            print(f"strata: {exc}", file=sys.stderr)
            return 2
    StrataApp(provider, model_spec=model_spec, theme=args.theme, poll_s=poll).run()
    return 0
