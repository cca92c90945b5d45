"""The lab's logs as a :class:`~tools.logs.base.LogSource`: the files its software writes.

The lab has no Loki (no package registry ships it). Its workloads write their log lines to
files on their nodes, the kernel-log collector writes each node's OOM-killer lines, and
dnsmasq writes its query log; this names those files with the
labels a log shipper would give them (``app``, ``host``, ``pod``) and reads them with
:class:`~tools.logs.files.FileLogs`, the source behind ``[[log_files]]``. Lines are data:
they are only parsed for their timestamps.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from strata.lab import plan
from tools.logs.base import LogRecord
from tools.logs.files import TAIL_BYTES, FileLogs, LogFile

__all__ = ["TAIL_BYTES", "LabLogs", "lab_log_files", "read_records"]


def lab_log_files(directory: Path) -> list[LogFile]:
    """The lab's log files under ``directory``, labelled, as ``[[log_files]]`` entries."""
    files = [
        LogFile(
            path=directory / "nodes" / n.name / "workload.log",
            labels={"app": "workload", "host": n.name, "pod": f"workload-{n.name}"},
            timestamp="rfc3339",
        )
        for n in plan.NODES
    ]
    # The kernel's OOM-killer lines about each node's cgroup (strata/lab/workload.py's
    # --kernel-log writes them, as a node's journal would ship them).
    files += [
        LogFile(
            path=directory / "nodes" / n.name / "kern.log",
            labels={"app": "kernel", "host": n.name},
            timestamp="syslog",
        )
        for n in plan.NODES
    ]
    files.append(
        LogFile(
            path=directory / "nodes" / "dns" / "queries.log",
            labels={"app": "dnsmasq", "host": plan.DNS_NAME},
            timestamp="syslog",
        )
    )
    return files


def read_records(directory: Path, now: datetime | None = None) -> list[LogRecord]:
    """Every log line of the lab's files that carries a timestamp, labelled."""
    return FileLogs(lab_log_files(directory)).records(now)


class LabLogs(FileLogs):
    """A LogSource over the lab's log files, as of ``observed_at``."""

    def __init__(self, directory: Path, observed_at: datetime) -> None:
        super().__init__(lab_log_files(directory), observed_at)
        self.directory = directory
