"""Live SSH: allow-listed, read-only diagnostic commands on real hosts, over asyncssh.

:class:`LiveSsh` is an :class:`tools.ssh.base.SshSource`. Each command is first checked
against :mod:`tools.ssh.allowlist`; a refused one comes back at once as status ``error``
with a reason starting ``refused:`` (and a warning in the log), and nothing is sent,
not even a connection. An allowed command runs as ``shlex.join(argv)`` on one reused
connection per host (a lock per host makes concurrent callers share it), under a
per-command timeout, with stdout and stderr each capped (cut output carries a marker
and the reason says so). Host and command problems are data, never raised: a host
that cannot be reached is ``unavailable``; an unknown or changed host key, failed
authentication, a timeout or a broken session is ``error``. A command that ran is
``ok`` whatever its exit status (the exit status is in the result).

This module must not run anything the allow-list refused, prompt for anything (host
keys are verified against the configured ``known_hosts``; there is no trust-on-first-use),
read ``~/.ssh/config``, forward the agent, or print or log a passphrase.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Literal

import asyncssh
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from tools.ssh.allowlist import AllowedCommand, CommandRefused, parse_command
from tools.ssh.base import CommandResult

__all__ = ["LiveSsh", "SshHostConfig", "truncation_marker"]

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024


def truncation_marker(cap: int) -> str:
    """The line put where output was cut."""
    return f"[strata: output truncated at {cap} bytes]"


class SshHostConfig(BaseModel):
    """One host Strata may run diagnostic commands on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Name used by Strata (the node name)."
    )
    host: str = Field(min_length=1, description="Address or DNS name to connect to.")
    port: int = Field(default=22, ge=1, le=65535, description="SSH port.")
    username: str = Field(min_length=1, description="Login user (read-only access suffices).")
    client_keys: tuple[Path, ...] = Field(
        default=(),
        description="Private key files; empty: ssh-agent (SSH_AUTH_SOCK) and default identities.",
    )
    passphrase: SecretStr | None = Field(
        default=None, description="Passphrase of encrypted client keys; never printed."
    )
    known_hosts: Path = Field(
        description="known_hosts file the host key must be in; unknown or changed keys fail."
    )
    jump: str | None = Field(
        default=None, description="Name of another host entry to tunnel through (a jump host)."
    )


class _Failure(Exception):
    """A host problem, already turned into a result status and reason."""

    def __init__(self, status: Literal["unavailable", "error"], reason: str) -> None:
        super().__init__(reason)
        self.status: Literal["unavailable", "error"] = status
        self.reason = reason


class LiveSsh:
    """An :class:`tools.ssh.base.SshSource` over real SSH connections.

    Args:
        hosts: The host entries; a ``jump`` must name another entry (no cycles).
        command_timeout: Seconds one command may take, from opening its session to exit.
        connect_timeout: Seconds to connect and authenticate (per hop).
        max_output_bytes: Cap on stdout and on stderr of one command.

    Raises:
        ValueError: Duplicate host names, an unknown jump host, or a jump cycle.
    """

    def __init__(
        self,
        hosts: Iterable[SshHostConfig],
        *,
        command_timeout: float = 15.0,
        connect_timeout: float = 10.0,
        max_output_bytes: int = 256 * 1024,
    ) -> None:
        self._hosts: dict[str, SshHostConfig] = {}
        for cfg in hosts:
            if cfg.name in self._hosts:
                raise ValueError(f"duplicate SSH host name {cfg.name!r}")
            self._hosts[cfg.name] = cfg
        for cfg in self._hosts.values():
            _check_jumps(cfg.name, self._hosts)
        self._command_timeout = command_timeout
        self._connect_timeout = connect_timeout
        self._cap = max_output_bytes
        self._conns: dict[str, asyncssh.SSHClientConnection] = {}
        self._locks = {name: asyncio.Lock() for name in self._hosts}

    def hosts(self) -> list[str]:
        """The configured host names."""
        return sorted(self._hosts)

    async def run(self, host: str, command: str) -> CommandResult:
        """Run an allow-listed ``command`` on ``host``; problems come back as a non-ok status."""
        ts = datetime.now(UTC)

        def failed(status: Literal["unavailable", "error"], reason: str) -> CommandResult:
            return CommandResult(host=host, command=command, status=status, ts=ts, reason=reason)

        try:
            allowed = parse_command(command)
        except CommandRefused as exc:
            log.warning("refused SSH command %r for host %s: %s", command, host, exc)
            return failed("error", f"refused: {exc}")
        if host not in self._hosts:
            return failed("unavailable", f"host {host!r} is not configured for SSH")
        for attempt in (1, 2):
            try:
                conn = await self._connect(host)
                async with asyncio.timeout(self._command_timeout):
                    exit_status, stdout, stderr, notes = await self._exec(conn, allowed)
            except _Failure as exc:
                return failed(exc.status, exc.reason)
            except TimeoutError:
                return failed("error", f"timed out after {self._command_timeout:g}s")
            except (asyncssh.Error, OSError) as exc:
                self._drop(host)  # a reused connection may have died since its last use
                if attempt == 1:
                    continue
                return failed("error", f"session failed: {_why(exc)}")
            return CommandResult(
                host=host,
                command=command,
                status="ok",
                exit_status=exit_status,
                stdout=stdout,
                stderr=stderr,
                ts=ts,
                reason="; ".join(notes),
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        """Close every connection (targets before the jump hosts they go through)."""
        conns = list(self._conns.values())[::-1]
        self._conns.clear()
        for conn in conns:
            conn.close()
        for conn in conns:
            await conn.wait_closed()

    async def __aenter__(self) -> LiveSsh:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _drop(self, name: str) -> None:
        conn = self._conns.pop(name, None)
        if conn is not None:
            conn.close()

    async def _connect(self, name: str) -> asyncssh.SSHClientConnection:
        """The open connection to ``name``, connecting (through its jump host) if needed."""
        async with self._locks[name]:
            conn = self._conns.get(name)
            if conn is not None and not conn.is_closed():
                return conn
            cfg = self._hosts[name]
            tunnel: asyncssh.SSHClientConnection | tuple[()] = ()
            if cfg.jump is not None:
                try:
                    tunnel = await self._connect(cfg.jump)
                except _Failure as exc:
                    raise _Failure(exc.status, f"jump host {cfg.jump}: {exc.reason}") from None
            if not cfg.known_hosts.is_file():
                raise _Failure("error", f"known_hosts file {cfg.known_hosts} does not exist")
            missing = [str(k) for k in cfg.client_keys if not k.is_file()]
            if missing:
                raise _Failure("error", f"client key {', '.join(missing)} does not exist")
            passphrase = cfg.passphrase.get_secret_value() if cfg.passphrase else None
            try:
                async with asyncio.timeout(self._connect_timeout):
                    conn = await asyncssh.connect(
                        cfg.host,
                        port=cfg.port,
                        tunnel=tunnel,
                        username=cfg.username,
                        known_hosts=str(cfg.known_hosts),
                        client_keys=[str(k) for k in cfg.client_keys] or (),
                        agent_path=None if cfg.client_keys else (),
                        passphrase=passphrase,
                        agent_forwarding=False,
                        config=None,
                    )
            except (
                OSError,
                asyncssh.Error,
                asyncssh.KeyImportError,
                asyncssh.KeyEncryptionError,
            ) as exc:
                raise _classify(exc, cfg, self._connect_timeout) from None
            log.debug("SSH connected to %s (%s:%d)", name, cfg.host, cfg.port)
            self._conns[name] = conn
            return conn

    async def _exec(
        self, conn: asyncssh.SSHClientConnection, cmd: AllowedCommand
    ) -> tuple[int | None, str, str, list[str]]:
        """Run ``cmd``: (exit status, stdout, stderr, notes on truncation)."""
        proc = await conn.create_process(cmd.remote, stdin=asyncssh.DEVNULL, encoding=None)
        try:
            out, err = await asyncio.gather(  # both at once: they share one flow-control window
                _read(proc, proc.stdout, self._cap, cmd.keep == "tail"),
                _read(proc, proc.stderr, self._cap, False),
            )
            await proc.wait_closed()
        finally:
            proc.close()
        stdout, out_cut = _shape(*out, cmd, self._cap)
        stderr, err_cut = _shape(*err, AllowedCommand(cmd.argv), self._cap)
        cuts = {"stdout": out_cut, "stderr": err_cut}
        notes = [
            f"{name} truncated at {self._cap} bytes (output cap)" for name, c in cuts.items() if c
        ]
        return proc.exit_status, stdout, stderr, notes


async def _read(
    proc: asyncssh.SSHClientProcess[bytes],
    stream: asyncssh.SSHReader[bytes],
    cap: int,
    keep_tail: bool,
) -> tuple[bytes, bool]:
    """Read ``stream`` to EOF keeping at most ``cap`` bytes: (bytes, whether some were dropped).

    Keeping the head, reading stops at the cap and the remote command is closed; keeping
    the tail (for ``| tail -n N``), the oldest bytes are dropped as new ones arrive.
    """
    buf = bytearray()
    dropped = False
    while chunk := await stream.read(_CHUNK):
        buf += chunk
        if len(buf) > cap:
            dropped = True
            if not keep_tail:
                proc.close()  # the rest is never read: stop the remote command
                return bytes(buf[:cap]), True
            del buf[:-cap]
    return bytes(buf), dropped


def _shape(data: bytes, dropped: bool, cmd: AllowedCommand, cap: int) -> tuple[str, bool]:
    """Decode, apply the client-side head/tail, and mark a cut: (text, whether it was cut)."""
    text = data.decode("utf-8", errors="replace")
    marker = truncation_marker(cap)
    if cmd.keep == "all":
        return (f"{text}\n{marker}\n", True) if dropped else (text, False)
    lines = text.splitlines(keepends=True)
    if cmd.keep == "head":
        cut = dropped and len(lines) <= cmd.lines  # the last kept line may be partial
        return "".join(lines[: cmd.lines]) + (f"\n{marker}\n" if cut else ""), cut
    if dropped:
        lines = lines[1:]  # the oldest kept line may be partial
    cut = dropped and len(lines) < cmd.lines
    return (f"{marker}\n" if cut else "") + "".join(lines[-cmd.lines :]), cut


def _why(exc: BaseException) -> str:
    reason = getattr(exc, "reason", "") or str(exc) or type(exc).__name__
    return str(reason)


def _classify(exc: Exception, cfg: SshHostConfig, timeout: float) -> _Failure:
    """A connection failure as a result status and a reason that names what to fix."""
    where = f"{cfg.username}@{cfg.host}:{cfg.port}"
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return _Failure(
            "error",
            f"host key of {cfg.host}:{cfg.port} not verified against {cfg.known_hosts} "
            f"(unknown or changed host key): {_why(exc)}",
        )
    if isinstance(exc, asyncssh.PermissionDenied):
        return _Failure("error", f"authentication failed for {where}: {_why(exc)}")
    if isinstance(exc, asyncssh.KeyImportError | asyncssh.KeyEncryptionError):
        return _Failure("error", f"cannot load the client key for {where}: {_why(exc)}")
    if isinstance(exc, TimeoutError):
        return _Failure("unavailable", f"connecting to {where} timed out after {timeout:g}s")
    if isinstance(exc, asyncssh.ChannelOpenError):
        return _Failure("unavailable", f"jump host cannot reach {cfg.host}:{cfg.port}: {_why(exc)}")
    if isinstance(exc, OSError):
        return _Failure("unavailable", f"cannot connect to {where}: {exc.strerror or exc}")
    if isinstance(exc, asyncssh.ConnectionLost):
        return _Failure("unavailable", f"connection to {where} lost: {_why(exc)}")
    return _Failure("error", f"SSH to {where} failed: {_why(exc)}")


def _check_jumps(name: str, hosts: dict[str, SshHostConfig]) -> None:
    seen = [name]
    jump = hosts[name].jump
    while jump is not None:
        if jump not in hosts:
            raise ValueError(f"SSH host {name!r}: jump host {jump!r} is not configured")
        if jump in seen:
            raise ValueError(f"SSH jump hosts form a cycle: {' -> '.join([*seen, jump])}")
        seen.append(jump)
        jump = hosts[jump].jump
