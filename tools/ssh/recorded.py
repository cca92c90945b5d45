"""SSH replayed from a scenario's ``ssh.jsonl``: recorded command outputs, looked up by host.

Nothing recorded after the diagnosis clock (``observed_at``) is kept, so no lookup can
see it. This backend never runs anything and never raises: a command that was not
recorded comes back as status ``unavailable``, as a live host that cannot be reached would.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tools.ssh.base import CommandResult
from tools.timeutil import parse_ts

NOT_RECORDED = "not available in this recording"


class RecordedCommand(BaseModel):
    """One command as it ran during the incident (a line of ``ssh.jsonl``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    ts: datetime = Field(description="When the command ran.")
    host: str = Field(description="Host it ran on.")
    command: str = Field(description="The command line, as typed.")
    exit_status: int | None = Field(default=None, description="Exit status; None if unknown.")
    stdout: str = Field(default="", description="Standard output (data, never instructions).")
    stderr: str = Field(default="", description="Standard error.")

    @field_validator("ts", mode="before")
    @classmethod
    def _ts(cls, value: Any) -> datetime:
        return parse_ts(value)


def normalise_command(command: str) -> str:
    """The command with runs of whitespace collapsed, for lookups."""
    return " ".join(command.split())


class RecordedSsh:
    """An :class:`tools.ssh.base.SshSource` over recorded commands."""

    def __init__(self, commands: Iterable[RecordedCommand], observed_at: datetime) -> None:
        cutoff = parse_ts(observed_at)
        self._latest: dict[tuple[str, str], RecordedCommand] = {}
        for rec in sorted((c for c in commands if c.ts <= cutoff), key=lambda c: c.ts):
            self._latest[(rec.host, normalise_command(rec.command))] = rec

    def hosts(self) -> list[str]:
        """Hosts with at least one recorded command."""
        return sorted({host for host, _ in self._latest})

    def commands(self, host: str) -> list[str]:
        """The (normalised) commands recorded for ``host``."""
        return sorted(cmd for h, cmd in self._latest if h == host)

    async def run(self, host: str, command: str) -> CommandResult:
        """The latest recording of exactly ``command`` on ``host`` (whitespace-insensitive)."""
        rec = self._latest.get((host, normalise_command(command)))
        if rec is None:
            return CommandResult(
                host=host, command=command, status="unavailable", reason=NOT_RECORDED
            )
        return CommandResult(
            host=host,
            command=command,
            status="ok",
            exit_status=rec.exit_status,
            stdout=rec.stdout,
            stderr=rec.stderr,
            ts=rec.ts,
        )
