"""Timestamps as the scenario format allows them: RFC 3339 or unix seconds."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_ts(value: object) -> datetime:
    """Parse an RFC 3339 string (``Z`` or offset) or unix seconds into an aware UTC datetime.

    Raises:
        ValueError: the value is neither form (the message says what was given).
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a timestamp, got boolean {value!r}")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz=UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        # Go/Alertmanager writes nanoseconds; Python accepts at most microseconds.
        if "." in text:
            head, _, rest = text.partition(".")
            digits = ""
            i = 0
            while i < len(rest) and rest[i].isdigit():
                digits += rest[i]
                i += 1
            text = f"{head}.{digits[:6].ljust(6, '0')}{rest[i:]}"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"not an RFC 3339 timestamp: {value!r}") from exc
        if parsed.tzinfo is None:
            raise ValueError(f"timestamp has no time zone (add Z or an offset): {value!r}")
        return parsed.astimezone(UTC)
    raise ValueError(f"expected RFC 3339 text or unix seconds, got {value!r}")


def iso(ts: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, to the second (or finer when present)."""
    text = ts.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")
