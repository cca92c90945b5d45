"""SSH: read-only diagnostic commands on nodes (recorded outputs or a live session)."""

from tools.ssh.allowlist import CommandRefused, parse_command
from tools.ssh.base import CommandResult, SshSource
from tools.ssh.live import LiveSsh, SshHostConfig

__all__ = [
    "CommandRefused",
    "CommandResult",
    "LiveSsh",
    "SshHostConfig",
    "SshSource",
    "parse_command",
]
