"""The lab's logs as a :class:`~tools.logs.base.LogSource`: the files its software writes.

The lab has no Loki (no package registry ships it). Its workloads write their log lines to
files on their nodes and dnsmasq writes its query log; this source reads those files (the
part within a query's window), labels each line as a log shipper would (``app``, ``host``,
``pod``) and answers with the same filtering as a recording
(:class:`~tools.logs.recorded.RecordedLogs`). Lines are data: they are only parsed for
their timestamps.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

from strata.lab import plan
from tools.logs.base import LogQuery, LogRecord
from tools.logs.recorded import RecordedLogs

TAIL_BYTES = 16 * 2**20
"""Only the last this many bytes of a file are read (a flood's query log grows fast)."""

_WORKLOAD_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z) ")
_SYSLOG_TS = re.compile(r"^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) ")


def _tail(path: Path) -> list[str]:
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(max(0, size - TAIL_BYTES))
            data = fh.read()
    except OSError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[1:] if size > TAIL_BYTES else lines


def _syslog_time(text: str, year: int) -> datetime | None:
    try:
        return datetime.strptime(f"{year} {text}", "%Y %b %d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def read_records(directory: Path, now: datetime | None = None) -> list[LogRecord]:
    """Every log line of the lab's files that carries a timestamp, labelled."""
    year = (now or datetime.now(UTC)).year
    out: list[LogRecord] = []
    for n in plan.NODES:
        labels = {"app": "workload", "host": n.name, "pod": f"workload-{n.name}"}
        for line in _tail(directory / "nodes" / n.name / "workload.log"):
            m = _WORKLOAD_TS.match(line)
            if m:
                ts = datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
                out.append(LogRecord(ts=ts, labels=labels, line=line))
    dns = {"app": "dnsmasq", "host": plan.DNS_NAME}
    for line in _tail(directory / "nodes" / "dns" / "queries.log"):
        m = _SYSLOG_TS.match(line)
        when = _syslog_time(m.group(1), year) if m else None
        if when is not None:
            out.append(LogRecord(ts=when, labels=dns, line=line))
    return out


class LabLogs:
    """A LogSource over the lab's log files, as of ``observed_at``."""

    def __init__(self, directory: Path, observed_at: datetime) -> None:
        self.directory = directory
        self.observed_at = observed_at

    async def query(self, query: LogQuery) -> list[LogRecord]:
        """Matching lines in time order (see :class:`~tools.logs.recorded.RecordedLogs`)."""
        records = [r for r in read_records(self.directory, self.observed_at) if r.ts >= query.start]
        return await RecordedLogs(records, self.observed_at).query(query)
