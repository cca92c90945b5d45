"""The report an operator exports from the UI: the diagnosis plus what the operator did.

Markdown is :func:`strata.report.render_markdown` followed by an "Operator" section (the
remediation steps marked done or approved, and the feedback given); JSON is the Diagnosis
JSON with an additive ``operator`` object. Pure renderers plus one small writer.
"""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from typing import Any

from agents.models import Diagnosis
from strata.report import render_markdown
from tui.state import IncidentEntry


def operator_section(entry: IncidentEntry, d: Diagnosis) -> list[str]:
    """Markdown lines for what the operator marked and said (empty when nothing)."""
    lines: list[str] = []
    for index in sorted(entry.marks):
        mark = entry.marks[index]
        if index >= len(d.remediation):
            continue
        when = mark.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines.append(
            f"- Step {index + 1} marked **{mark.state}** at {when}: {d.remediation[index].action}"
        )
    if entry.feedback:
        lines.append(f"- Feedback: {entry.feedback}")
    if not lines:
        return []
    return [
        "",
        "## Operator",
        "",
        "Strata executed nothing; these are the operator's marks.",
        "",
        *lines,
    ]


def operator_json(entry: IncidentEntry, d: Diagnosis) -> dict[str, Any]:
    """The additive ``operator`` object of the exported JSON."""
    return {
        "remediation_marks": [
            {
                "step": index + 1,
                "action": d.remediation[index].action,
                "state": entry.marks[index].state,
                "at": entry.marks[index].at.astimezone(UTC).isoformat(),
            }
            for index in sorted(entry.marks)
            if index < len(d.remediation)
        ],
        "feedback": entry.feedback,
    }


def report_markdown(entry: IncidentEntry, d: Diagnosis) -> str:
    """The Markdown report with the operator section."""
    return render_markdown(d).rstrip("\n") + "\n" + "\n".join(operator_section(entry, d)) + "\n"


def report_json(entry: IncidentEntry, d: Diagnosis) -> str:
    """The Diagnosis JSON with the ``operator`` object."""
    data = d.to_dict()
    data["operator"] = operator_json(entry, d)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def safe_name(key: str) -> str:
    """A file-name-safe form of an incident key."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in key).strip("._")
    return cleaned[:80] or "incident"


def write_report(entry: IncidentEntry, d: Diagnosis, directory: Path) -> tuple[Path, Path]:
    """Write ``<key>.md`` and ``<key>.json`` under ``directory``; returns both paths.

    Raises:
        OSError: the directory or files cannot be written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    base = directory / f"strata-report-{safe_name(entry.key)}"
    md, js = base.with_suffix(".md"), base.with_suffix(".json")
    md.write_text(report_markdown(entry, d), encoding="utf-8")
    js.write_text(report_json(entry, d), encoding="utf-8")
    return md, js
