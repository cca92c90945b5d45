"""Scrub secrets out of telemetry text before a model or a report sees it.

Log lines, SNMP strings and command output sometimes carry credentials: a password
in a URL, ``token=...`` in a query string, an ``Authorization`` header, a private
key, a cloud access key. :func:`redact` masks them with :data:`MASK` and leaves the
rest of the text as it was, so a redacted excerpt still reads like the original.

:func:`quote_data` wraps telemetry in the delimiters every prompt uses, after
redacting it and neutralising any delimiter the text itself contains, so a log
line can never close the data block and speak as the prompt.

This module only transforms strings: no I/O, no state.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["DATA_CLOSE", "DATA_OPEN", "MASK", "quote_data", "redact"]

MASK: Final = "[REDACTED]"
"""What a secret is replaced with."""

DATA_OPEN: Final = "<<<DATA"
DATA_CLOSE: Final = "DATA>>>"
"""The delimiters around telemetry in every prompt: what is between them is data."""

_KEYWORDS = (
    r"(?:access_|api_|auth_|client_|refresh_|session_|private_)?"
    r"(?:token|password|passwd|pwd|secret|apikey|api_key|access_key|secret_key|credentials?)"
)

_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    # PEM private keys, whole block (or up to the end of an excerpt cut mid-key).
    (
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        MASK,
    ),
    # user:password@ in URLs (any scheme).
    (re.compile(r"(://[^/\s:@]*:)[^@\s/]+@"), rf"\1{MASK}@"),
    # Authorization headers.
    (
        re.compile(
            r"(?i)(\bauthorization\s*[:=]\s*\"?(?:bearer|basic|token)\s+)[A-Za-z0-9._~+/=-]+"
        ),
        rf"\1{MASK}",
    ),
    (re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"), rf"\1{MASK}"),
    # key=value / key: value / "key": "value" for credential-named keys.
    (
        re.compile(rf"(?i)(\b{_KEYWORDS}\"?\s*[=:]\s*\"?)(?!\[REDACTED\])[^\s&\"',;}}\]]+"),
        rf"\1{MASK}",
    ),
    # Well-known token shapes: JWTs, AWS access key ids, GitHub and Slack tokens.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), MASK),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), MASK),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), MASK),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"), MASK),
)


def redact(text: str) -> str:
    """``text`` with every credential-looking part replaced by :data:`MASK`."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def _defuse(text: str) -> str:
    # A line that contains a delimiter must not end the data block early.
    return text.replace(DATA_OPEN, "<<<data").replace(DATA_CLOSE, "data>>>")


def quote_data(text: str, limit: int | None = None) -> str:
    """Telemetry as a delimited, redacted data block for a prompt.

    Args:
        text: raw telemetry (log lines, SNMP strings, command output, tool results).
        limit: cut the (redacted) text to this many characters, marking the cut.
    """
    body = _defuse(redact(text))
    if limit is not None and len(body) > limit:
        body = body[: max(0, limit - 1)] + "…"
    return f"{DATA_OPEN}\n{body}\n{DATA_CLOSE}"
