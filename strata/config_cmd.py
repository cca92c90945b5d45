"""``strata config check [--config FILE]``: does every configured source answer?

Loads the configuration (``--config``, else the search path of :mod:`tools.config`),
sends each source one small request concurrently (:func:`tools.live.check_sources`) and
prints a table: source, target, ok/FAIL, latency, and what it answered or why it failed.
Exit status: 0 when every source answered, 1 when one did not (or none is configured),
2 for a missing or invalid configuration. Every line printed or logged is scrubbed of
the configuration's secrets (:func:`protect`). A check only reads (one query, one list,
one GET, ``uptime``); nothing here changes a source.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from tools.config import ConfigError, StrataConfig, load_config
from tools.live import SourceCheck, check_sources
from tools.recording import RedactingFilter, Redactor


def add_parser(subparsers: Any) -> None:
    """Register ``strata config`` and its ``check`` action."""
    p = subparsers.add_parser("config", help="check the configuration and its sources")
    actions = p.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    c = actions.add_parser("check", help="connect to each configured source; print a table")
    add_config_arg(c)
    c.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="longest wait for each source (default 10)",
    )


def add_config_arg(p: argparse.ArgumentParser) -> None:
    """``--config FILE``, shared by every command that reads the configuration."""
    p.add_argument(
        "--config",
        metavar="FILE",
        help="strata.toml (default: $STRATA_CONFIG, ./strata.toml, "
        "~/.config/strata/strata.toml, /etc/strata/strata.toml)",
    )


def err(message: str) -> None:
    """One error line on stderr."""
    print(f"strata: {message}", file=sys.stderr)


def load(path: str | None) -> tuple[StrataConfig, Redactor] | None:
    """The configuration and its redactor (installed on every log handler); None on error."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        err(str(exc))
        return None
    return config, protect(config)


def protect(config: StrataConfig) -> Redactor:
    """A redactor for ``config``'s secrets, also filtering every root log handler."""
    redact = Redactor(config.secrets())
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter(redact))
    return redact


def render_checks(rows: list[SourceCheck], config: StrataConfig) -> str:
    """The table ``strata config check`` prints. Pure."""
    lines = [f"configuration: {config.path}"] if config.path else []
    missing = [
        name
        for name, present in (
            ("prometheus", config.prometheus),
            ("loki", config.loki),
            ("alertmanager", config.alertmanager),
            ("snmp", config.snmp.devices),
            ("ssh", config.ssh.hosts),
        )
        if not present
    ]
    if rows:
        table = [["source", "target", "status", "latency", "detail"]]
        for r in rows:
            status = "ok" if r.ok else "FAIL"
            table.append([r.source, r.target, status, f"{r.latency_ms:.0f} ms", r.detail])
        widths = [max(len(row[i]) for row in table) for i in range(4)]
        for row in table:
            cells = [
                c.rjust(w) if i == 3 else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=False))
            ]
            lines.append("  ".join([*cells, row[4]]).rstrip())
    else:
        lines.append("no source is configured")
    if missing:
        lines.append(f"not configured: {', '.join(missing)}")
    failed = sum(1 for r in rows if not r.ok)
    lines.append(
        f"{len(rows) - failed} of {len(rows)} sources answered"
        + (f"; {failed} failed" if failed else "")
    )
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    """Run ``strata config check``."""
    loaded = load(args.config)
    if loaded is None:
        return 2
    config, redact = loaded
    if args.timeout <= 0:
        err("--timeout must be positive")
        return 2
    try:
        rows = asyncio.run(check_sources(config, args.timeout))
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    print(redact(render_checks(rows, config)), end="")
    return 0 if rows and all(r.ok for r in rows) else 1
