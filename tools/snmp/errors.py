"""Errors of the live SNMP client, as :class:`tools.errors.ToolError` subclasses.

Each also derives from the generic kind (``SourceUnavailable`` or ``QueryError``), so
callers that only know the generic hierarchy still tell "could not reach" from
"answered, but refused". Messages name the device and its address, never a secret.
"""

from __future__ import annotations

from tools.errors import QueryError, SourceUnavailable, ToolError


class SnmpError(ToolError):
    """Root of every live SNMP failure."""

    title = "SNMP error"


class SnmpUnavailable(SnmpError, SourceUnavailable):
    """The device could not be read at all (no answer, bad address, not configured)."""

    title = "SNMP device unavailable"


class SnmpTimeout(SnmpUnavailable):
    """No answer within the timeout and retries (also what a wrong v2c community looks like)."""

    title = "SNMP timeout"


class SnmpAuthError(SnmpUnavailable):
    """The agent answered with an SNMPv3 security report: wrong user, key or protocol."""

    title = "SNMP authentication failed"


class SnmpRequestError(SnmpError, QueryError):
    """The agent or the engine refused or could not run one request."""

    title = "SNMP request failed"
