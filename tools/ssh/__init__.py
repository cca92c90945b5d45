"""SSH: read-only diagnostic commands on nodes (recorded outputs or a live session)."""

from tools.ssh.base import CommandResult, SshSource

__all__ = ["CommandResult", "SshSource"]
