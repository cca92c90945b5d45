"""The root of every error raised by a data source.

Agent-facing wrappers turn these into data (an Evidence with status error), so
a specialist can reason about "SNMP timed out" instead of crashing.
"""

from __future__ import annotations


class ToolError(Exception):
    """Base class: a short ``title`` for tables and a human ``message``."""

    title = "Data source error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class SourceUnavailable(ToolError):
    """The source is absent from this incident or cannot be reached."""

    title = "Source unavailable"


class QueryError(ToolError):
    """The source answered, but refused or could not run the query."""

    title = "Query failed"


class BackendStartError(ToolError):
    """A helper server (e.g. the replay Prometheus) could not be started."""

    title = "Backend failed to start"
