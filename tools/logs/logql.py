"""Render a :class:`LogQuery` to LogQL, escaping every value."""

from __future__ import annotations

import re

from tools.logs.base import LogQuery

_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def render_logql(query: LogQuery) -> str:
    """``{ns="kube-system", app=~"core.*"} |= "error" != "debug"``.

    Raises:
        ValueError: a label name that LogQL cannot express.
    """
    parts = []
    for m in query.matchers:
        if not _LABEL.match(m.label):
            raise ValueError(f"invalid label name {m.label!r}")
        parts.append(f"{m.label}{m.op}{_quote(m.value)}")
    text = "{" + ", ".join(parts) + "}"
    for f in query.filters:
        text += f" {f.op} {_quote(f.value)}"
    return text
