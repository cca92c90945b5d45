"""``strata serve``: arguments, start-up checks, and the exit status.

``strata serve [--listen 127.0.0.1:9095] (--scenario DIR | --config FILE)
[--token-file F] [--basic-auth-file F] [--data-dir DIR] [--reports DIR]
[--queue URL] [--workers N] ...`` — see ``docs/serve.md``. Exit 0 after a clean
stop, 2 for bad input or a refused start (never silently exposed).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from strata.serve.app import Auth
    from strata.serve.server import ServeSettings

log = logging.getLogger("strata.serve")
MAX_AUTO_WORKERS = 4


def add_parser(subparsers: Any) -> None:
    """Register ``strata serve``."""
    p = subparsers.add_parser(
        "serve", help="headless: diagnose every alert group Alertmanager posts (webhook service)"
    )
    p.add_argument("--listen", default="127.0.0.1:9095", metavar="HOST:PORT",
                   help="address to serve (default 127.0.0.1:9095)")  # fmt: skip
    src = p.add_mutually_exclusive_group()
    src.add_argument("--config", metavar="FILE", help="strata.toml: diagnose over live sources")
    src.add_argument("--scenario", type=Path, metavar="DIR",
                     help="diagnose every group against this recorded scenario (demos, tests)")  # fmt: skip
    p.add_argument("--token-file", type=Path, metavar="FILE",
                   help="bearer token (first line) required on every request")  # fmt: skip
    p.add_argument("--basic-auth-file", type=Path, metavar="FILE",
                   help="USER:PASSWORD lines accepted as basic auth")  # fmt: skip
    p.add_argument("--data-dir", type=Path, metavar="DIR",
                   help="queue and reports live here (default ./strata-serve)")  # fmt: skip
    p.add_argument(
        "--reports", type=Path, metavar="DIR", help="report files (default DATA/reports)"
    )
    p.add_argument("--queue", metavar="URL",
                   help="postgresql://... to share one queue between servers "
                        "(default: SQLite DATA/queue.db)")  # fmt: skip
    p.add_argument("--workers", type=int, metavar="N",
                   help="concurrent diagnoses (default: 1 with a model, else up to 4 by CPUs); "
                        "0: intake only, other servers sharing the queue diagnose")  # fmt: skip
    p.add_argument(
        "--model", metavar="SPEC", help="none | auto | ollama:NAME (default: config's, else auto)"
    )
    p.add_argument(
        "--tls-cert", type=Path, metavar="FILE", help="serve HTTPS with this certificate"
    )
    p.add_argument("--tls-key", type=Path, metavar="FILE", help="the certificate's private key")
    p.add_argument("--max-body", type=int, default=4 * 1024 * 1024, metavar="BYTES",
                   help="largest webhook body accepted (default 4 MiB)")  # fmt: skip
    p.add_argument("--header-timeout", type=float, default=5.0, metavar="S",
                   help="time for a client to send a request head, and keep-alive idle time")  # fmt: skip
    p.add_argument("--body-timeout", type=float, default=10.0, metavar="S",
                   help="time for a client to send the whole body")  # fmt: skip
    p.add_argument("--lease", type=float, default=60.0, metavar="S",
                   help="job lease; a dead worker's job is taken again after it")  # fmt: skip
    p.add_argument("--max-attempts", type=int, default=3, metavar="N",
                   help="attempts before a job ends as a failed report")  # fmt: skip
    p.add_argument("--retry-backoff", type=float, default=5.0, metavar="S",
                   help="wait before retrying a job that raised (doubles each time)")  # fmt: skip
    p.add_argument("--diagnosis-timeout", type=float, default=900.0, metavar="S",
                   help="longest a single diagnosis may run")  # fmt: skip
    p.add_argument("--flap-interval", type=float, default=3600.0, metavar="S",
                   help="a group that resolves and fires again within this is not re-diagnosed")  # fmt: skip
    p.add_argument("--notify-webhook", action="append", default=[], metavar="URL",
                   help="POST each finished report as JSON here (repeatable)")  # fmt: skip
    p.add_argument("--notify-slack", action="append", default=[], metavar="URL",
                   help="post a Slack-style message here (repeatable)")  # fmt: skip
    p.add_argument("--public-url", metavar="URL", help="this server's URL, linked in notifications")


def _err(message: str) -> None:
    print(f"strata serve: {message}", file=sys.stderr)


def _first_line(path: Path, what: str) -> str:
    from strata.serve.server import ServeError

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ServeError(f"{what} {path}: cannot read: {exc.strerror}") from None
    value = lines[0].strip() if lines else ""
    if not value:
        raise ServeError(f"{what} {path} is empty")
    return value


def _auth(args: argparse.Namespace) -> Auth:
    from strata.serve.app import Auth
    from strata.serve.server import ServeError

    token = _first_line(args.token_file, "--token-file") if args.token_file else None
    basic: dict[str, str] = {}
    if args.basic_auth_file:
        _first_line(args.basic_auth_file, "--basic-auth-file")
        for n, line in enumerate(args.basic_auth_file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            user, sep, password = line.strip().partition(":")
            if not sep or not user or not password:
                raise ServeError(f"--basic-auth-file line {n}: expected USER:PASSWORD")
            basic[user] = password
    return Auth(token=token, basic=basic)


def _settings(args: argparse.Namespace, workers: int) -> ServeSettings:
    from strata.serve.app import Limits
    from strata.serve.notify import Target
    from strata.serve.server import ServeError, ServeSettings, parse_listen
    from strata.serve.worker import WorkerSettings

    host, port = parse_listen(args.listen)
    data = args.data_dir or Path("strata-serve")
    for name in ("max_body", "max_attempts"):
        if getattr(args, name) < 1:
            raise ServeError(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("lease", "header_timeout", "body_timeout", "diagnosis_timeout"):
        if not getattr(args, name) > 0:
            raise ServeError(f"--{name.replace('_', '-')} must be more than 0 seconds")
    for name in ("retry_backoff", "flap_interval"):
        if not getattr(args, name) >= 0:
            raise ServeError(f"--{name.replace('_', '-')} must not be negative")
    return ServeSettings(
        host=host,
        port=port,
        auth=_auth(args),
        limits=Limits(max_body_bytes=args.max_body, body_timeout_s=args.body_timeout),
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        header_timeout_s=args.header_timeout,
        read_timeout_s=args.body_timeout,
        reports_dir=args.reports or data / "reports",
        workers=WorkerSettings(
            workers=workers,
            lease_s=args.lease,
            max_attempts=args.max_attempts,
            retry_backoff_s=args.retry_backoff,
            diagnosis_timeout_s=args.diagnosis_timeout,
            poll_s=0.25,
        ),
        notify=tuple(
            [Target("json", u) for u in args.notify_webhook]
            + [Target("slack", u) for u in args.notify_slack]
        ),
        public_url=args.public_url,
    )


async def _main(args: argparse.Namespace) -> int:
    from agents.llm import ModelSpecError, resolve
    from strata.serve.server import ServeError, check_exposure, serve
    from strata.serve.store import StoreError, open_store
    from strata.serve.worker_process import WorkerSpec

    data = args.data_dir or Path("strata-serve")
    try:
        # Checked before anything slow: a refused start must not touch the queue.
        check_exposure(_settings(args, workers=1))
        if args.scenario is None and args.config is None:
            raise ServeError("give --scenario DIR (recorded sources) or --config FILE (live)")
        if args.scenario is not None:
            from tools.scenario.loader import ScenarioError, load_scenario

            try:
                load_scenario(args.scenario)  # the workers load it again; fail here, early
            except ScenarioError as exc:
                raise ServeError(f"--scenario: {exc}") from None
            spec = args.model or "auto"
        else:
            from strata.config_cmd import load

            loaded = load(args.config)
            if loaded is None:
                return 2
            spec = args.model or loaded[0].model.spec
        model = await resolve(spec)
        if not model.use.available and spec != "none":
            log.warning("running without a model", extra={"note": model.use.note})
        workers = (
            args.workers
            if args.workers is not None
            else (1 if model.use.available else max(1, min(MAX_AUTO_WORKERS, os.cpu_count() or 1)))
        )
        if workers < 0:
            raise ServeError("--workers must be 0 (intake only) or more")
        settings = _settings(args, workers)
        queue_url = args.queue or str((data / "queue.db").resolve())
        worker_spec = (
            WorkerSpec(
                queue_url=queue_url,
                flap_interval_s=args.flap_interval,
                settings=settings.workers,
                reports_dir=settings.reports_dir.resolve(),
                model_spec=spec,
                scenario=args.scenario.resolve() if args.scenario else None,
                config=args.config,
                notify=settings.notify,
                public_url=settings.public_url,
                log_level=logging.DEBUG if args.verbose else logging.INFO,
            )
            if workers > 0
            else None
        )
        store = open_store(queue_url, flap_interval_s=args.flap_interval)
        await serve(settings, store, worker_spec, model_name=model.use.name or model.use.backend)
    except (ServeError, ModelSpecError, StoreError) as exc:
        _err(str(exc))
        return 2
    except OSError as exc:
        _err(f"cannot serve {args.listen}: {exc.strerror or exc}")
        return 2
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``strata serve`` until SIGTERM or SIGINT."""
    from strata.serve.logs import setup_json_logging

    setup_json_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return asyncio.run(_main(args))
    except KeyboardInterrupt:
        return 0
