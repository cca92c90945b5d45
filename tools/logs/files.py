"""Log files on this machine as a :class:`~tools.logs.base.LogSource`, for sites without Loki.

Each configured file (``[[log_files]]``) has the labels a log shipper would give its lines
(``app``, ``host``, ``pod``, ...) and says how its lines begin with a timestamp: ``rfc3339``
(``2026-11-24T10:56:42.123Z ...``) or ``syslog`` (``Nov 24 10:56:42 ...``). Only the last
:data:`TAIL_BYTES` of a file are read; a line without a leading timestamp is skipped.
Queries are answered as a recording's are (:class:`~tools.logs.recorded.RecordedLogs`),
never with a line after the incident clock.

Lines are data: they are only parsed for their timestamps. A file that cannot be read is
left out of the answer (and :meth:`FileLogs.unreadable` says why); only when no file at all
can be read does a query fail, with a :class:`~tools.errors.SourceUnavailable` naming them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tools.errors import SourceUnavailable
from tools.logs.base import LogQuery, LogRecord
from tools.logs.recorded import RecordedLogs

__all__ = ["TAIL_BYTES", "FileLogs", "LogFile", "parse_line_time"]

log = logging.getLogger(__name__)

TAIL_BYTES = 16 * 2**20
"""Only the last this many bytes of a file are read (a flood's query log grows fast)."""

TimestampFormat = Literal["rfc3339", "syslog"]

_RFC3339 = re.compile(
    r"^(\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d:?\d\d)?)(?:\s|$)"
)
_SYSLOG = re.compile(r"^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)(?:\s|$)")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class LogFile(BaseModel):
    """One log file and how to read it (``[[log_files]]`` in strata.toml)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path = Field(description="The file (``~`` is the user's home).")
    labels: dict[str, str] = Field(
        min_length=1, description="Labels of every line, as a log shipper would set them."
    )
    timestamp: TimestampFormat = Field(
        default="rfc3339",
        description='How lines begin: "rfc3339" (2026-11-24T10:56:42.123Z) or '
        '"syslog" (Nov 24 10:56:42).',
    )
    timezone: str = Field(
        default="UTC",
        description="IANA zone of timestamps without an offset (syslog times, always).",
    )

    @field_validator("path")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _LABEL.match(name):
                raise ValueError(f"not a label name: {name!r} (letters, digits, _)")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name: UTC, Europe/Paris)"
            ) from None
        return value


def parse_line_time(
    line: str, fmt: TimestampFormat, *, zone: tzinfo = UTC, now: datetime | None = None
) -> datetime | None:
    """The timestamp a line begins with, in UTC; ``None`` when it has none.

    Args:
        line: one log line (data: only its start is looked at).
        fmt: ``rfc3339`` or ``syslog``.
        zone: the zone of a time written without an offset.
        now: the clock that supplies a syslog time's year (a time more than a day after it
            is taken as last year's: December's lines read in January).
    """
    if fmt == "rfc3339":
        m = _RFC3339.match(line)
        if m is None:
            return None
        text = m.group(1).replace(" ", "T").replace("t", "T")
        if text[-1] in "Zz":
            text = text[:-1] + "+00:00"
        if "." in text:  # nanoseconds (Go) are more than Python reads: keep microseconds
            head, _, rest = text.partition(".")
            digits = len(rest) - len(rest.lstrip("0123456789"))
            text = f"{head}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).astimezone(UTC)
    m = _SYSLOG.match(line)
    if m is None:
        return None
    clock = (now or datetime.now(UTC)).astimezone(zone)
    for year in (clock.year, clock.year - 1):
        try:
            when = datetime.strptime(f"{year} {m.group(1)}", "%Y %b %d %H:%M:%S")
        except ValueError:  # Feb 29 in a year without one, or not a date at all
            continue
        when = when.replace(tzinfo=zone)
        if when <= clock + timedelta(days=1):
            return when.astimezone(UTC)
    return None


@dataclass(frozen=True)
class _Read:
    """One file's lines as last read, and the file's state then."""

    stamp: tuple[int, ...]
    records: tuple[LogRecord, ...]


class FileLogs:
    """A LogSource over local log files, as of ``observed_at`` (``None``: now, at each query).

    Each query reads the files again (the tail only), so lines written since are seen; a
    file that has not changed since the last read is not parsed again.
    """

    def __init__(
        self,
        files: Iterable[LogFile],
        observed_at: datetime | None = None,
        *,
        tail_bytes: int = TAIL_BYTES,
    ) -> None:
        self.files = tuple(files)
        self.observed_at = observed_at
        self.tail_bytes = tail_bytes
        self._cache: dict[int, _Read] = {}
        self._errors: dict[int, str] = {}

    def __repr__(self) -> str:
        return f"FileLogs({', '.join(str(f.path) for f in self.files)})"

    def unreadable(self) -> list[str]:
        """Why each file that could not be read (at the last read, or now) could not.

        One line per file, ``PATH: cannot read: REASON``; empty when every file reads.
        """
        out = []
        for i, file in enumerate(self.files):
            if i not in self._errors and i not in self._cache:
                self._read_file(i, file, datetime.now(UTC))
            if i in self._errors:
                out.append(self._errors[i])
        return out

    def records(self, now: datetime | None = None) -> list[LogRecord]:
        """Every line of every readable file that carries a timestamp, labelled, file by file.

        Args:
            now: the clock that dates syslog times (default: ``observed_at``, else now).
        """
        clock = now or self.observed_at or datetime.now(UTC)
        out: list[LogRecord] = []
        for i, file in enumerate(self.files):
            out.extend(self._read_file(i, file, clock))
        return out

    async def query(self, query: LogQuery) -> list[LogRecord]:
        """Matching lines in time order (see :class:`~tools.logs.recorded.RecordedLogs`).

        Raises:
            tools.errors.SourceUnavailable: no configured file could be read.
            tools.errors.QueryError: a matcher or filter holds an invalid regex.
        """
        clock = self.observed_at or datetime.now(UTC)
        records = await asyncio.to_thread(self.records, clock)
        if self.files and len(self._errors) == len(self.files):
            raise SourceUnavailable("no log file could be read: " + "; ".join(self.unreadable()))
        return await RecordedLogs([r for r in records if r.ts >= query.start], clock).query(query)

    def _read_file(self, i: int, file: LogFile, clock: datetime) -> tuple[LogRecord, ...]:
        try:
            with file.path.open("rb") as fh:
                st = os.fstat(fh.fileno())
                # A syslog time's year depends on the clock's date: part of the state too.
                day = clock.toordinal() if file.timestamp == "syslog" else 0
                stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, day)
                cached = self._cache.get(i)
                if cached is not None and cached.stamp == stamp:
                    self._errors.pop(i, None)
                    return cached.records
                fh.seek(max(0, st.st_size - self.tail_bytes))
                data = fh.read(self.tail_bytes)
        except OSError as exc:
            message = f"{file.path}: cannot read: {exc.strerror or exc}"
            if self._errors.get(i) != message:
                log.warning("log file left out: %s", message)
            self._errors[i] = message
            self._cache.pop(i, None)
            return ()
        self._errors.pop(i, None)
        lines = data.decode("utf-8", errors="replace").splitlines()
        if st.st_size > self.tail_bytes:
            lines = lines[1:]  # the first is cut off at the cap: its start is gone
        zone = ZoneInfo(file.timezone)
        records = []
        for line in lines:
            ts = parse_line_time(line, file.timestamp, zone=zone, now=clock)
            if ts is not None:
                records.append(LogRecord(ts=ts, labels=dict(file.labels), line=line))
        read = _Read(stamp, tuple(records))
        self._cache[i] = read
        return read.records
