"""Build PromQL selectors from typed parts, with escaping (never by pasting strings)."""

from __future__ import annotations

import re

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_OPS = ("=", "!=", "=~", "!~")


def escape_label_value(value: str) -> str:
    """Escape a value for use inside a double-quoted PromQL string."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def selector(metric: str, *matchers: tuple[str, str, str], **equals: str) -> str:
    """``metric{a="x", b=~"y"}``.

    Args:
        metric: metric name (validated).
        matchers: ``(label, op, value)`` triples, op one of ``= != =~ !~``.
        equals: shorthand for ``label="value"`` matchers.

    Raises:
        ValueError: an invalid metric name, label name or operator.
    """
    if not _METRIC_NAME.match(metric):
        raise ValueError(f"invalid metric name {metric!r}")
    parts: list[str] = []
    for label, op, value in (*matchers, *((k, "=", v) for k, v in equals.items())):
        if not _LABEL_NAME.match(label):
            raise ValueError(f"invalid label name {label!r}")
        if op not in _OPS:
            raise ValueError(f"invalid matcher operator {op!r}")
        parts.append(f'{label}{op}"{escape_label_value(value)}"')
    return f"{metric}{{{', '.join(parts)}}}" if parts else metric
