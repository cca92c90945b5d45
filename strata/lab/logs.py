"""The lab's logs: the files its software writes, as ``[[log_files]]`` entries.

The lab has no Loki (no package registry ships it). Its workloads write their log lines to
files on their nodes, the kernel-log collector writes each node's OOM-killer lines, and
dnsmasq writes its query log; this names those files with the labels a log shipper would
give them (``app``, ``host``, ``pod``). The lab's strata.toml lists them, and every
diagnosis reads them with :class:`~tools.logs.files.FileLogs`. Lines are data: they are
only parsed for their timestamps.
"""

from __future__ import annotations

from pathlib import Path

from strata.lab import plan
from tools.logs.files import LogFile


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
