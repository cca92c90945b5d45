"""tools.ssh.recorded: recorded commands by host; unrecorded ones are unavailable, never raised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tools.ssh.recorded import RecordedCommand, RecordedSsh

T0 = datetime(2024, 12, 14, 3, 0, tzinfo=UTC)
OBSERVED = T0 + timedelta(minutes=10)


def cmd(
    minute: int, command: str, stdout: str, host: str = "node-2", status: int = 0
) -> RecordedCommand:
    return RecordedCommand(
        ts=T0 + timedelta(minutes=minute), host=host, command=command,
        exit_status=status, stdout=stdout, stderr="",
    )  # fmt: skip


@pytest.fixture
def ssh() -> RecordedSsh:
    return RecordedSsh(
        [
            cmd(8, "df -h /var/lib", "/dev/sda1 97%"),
            cmd(2, "df -h /var/lib", "/dev/sda1 90%"),
            cmd(12, "df -h /var/lib", "/dev/sda1 100%"),  # after observed_at
            cmd(3, "dmesg | tail", "oom-killer", host="node-1", status=1),
            cmd(20, "uptime", "up 3 days", host="node-3"),  # only after observed_at
        ],
        OBSERVED,
    )


def test_hosts(ssh: RecordedSsh) -> None:
    assert ssh.hosts() == ["node-1", "node-2"]
    assert ssh.commands("node-2") == ["df -h /var/lib"]


async def test_latest_recording_at_or_before_observed_at(ssh: RecordedSsh) -> None:
    got = await ssh.run("node-2", "df -h /var/lib")
    assert got.status == "ok"
    assert got.stdout == "/dev/sda1 97%"
    assert got.ts == T0 + timedelta(minutes=8)
    assert (got.host, got.command, got.exit_status) == ("node-2", "df -h /var/lib", 0)


async def test_whitespace_is_normalised(ssh: RecordedSsh) -> None:
    got = await ssh.run("node-2", "  df   -h\t/var/lib ")
    assert got.status == "ok" and got.stdout == "/dev/sda1 97%"


async def test_nonzero_exit_still_ran(ssh: RecordedSsh) -> None:
    got = await ssh.run("node-1", "dmesg | tail")
    assert (got.status, got.exit_status, got.stdout) == ("ok", 1, "oom-killer")


@pytest.mark.parametrize(
    ("host", "command"),
    [
        ("node-2", "df -h /"),  # unrecorded command
        ("node-1", "df -h /var/lib"),  # recorded, but on another host
        ("node-9", "uptime"),  # unknown host
        ("node-3", "uptime"),  # recorded only after observed_at
    ],
)
async def test_unrecorded_is_unavailable(ssh: RecordedSsh, host: str, command: str) -> None:
    got = await ssh.run(host, command)
    assert got.status == "unavailable"
    assert got.reason == "not available in this recording"
    assert (got.host, got.command, got.stdout, got.exit_status) == (host, command, "", None)


def test_recorded_command_parses_timestamps() -> None:
    c = RecordedCommand.model_validate(
        {"ts": 1734145200, "host": "h", "command": "c", "extra": "ignored"}
    )
    assert c.ts == T0 and c.exit_status is None and c.stdout == ""
    with pytest.raises(ValueError, match="no time zone"):
        RecordedCommand.model_validate({"ts": "2024-12-14T03:00:00", "host": "h", "command": "c"})
