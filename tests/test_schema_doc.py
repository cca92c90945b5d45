"""The committed Diagnosis JSON Schema is the model's schema, and matches the format doc."""

from __future__ import annotations

import json
from pathlib import Path

from agents.models import Diagnosis

ROOT = Path(__file__).resolve().parents[1]


def test_committed_schema_is_current() -> None:
    committed = json.loads((ROOT / "docs" / "diagnosis.schema.json").read_text())
    assert committed == Diagnosis.model_json_schema(mode="serialization"), (
        "regenerate with: python -m strata schema > docs/diagnosis.schema.json"
    )


def test_documented_keys_are_present() -> None:
    schema = Diagnosis.model_json_schema(mode="serialization")
    top = set(schema["properties"])
    assert {
        "schema_version",
        "incident",
        "verdict",
        "root_cause",
        "confidence",
        "hypotheses",
        "findings",
        "evidence",
        "remediation",
        "model",
        "timings",
    } <= top
    defs = schema["$defs"]
    assert {
        "layer",
        "fault",
        "component",
        "score",
        "by",
        "findings",
        "role",
        "explained_by",
    } <= set(defs["Hypothesis"]["properties"])
    assert {"id", "by", "summary", "evidence", "strength"} <= set(defs["Finding"]["properties"])
    assert {"id", "source", "query", "excerpt"} <= set(defs["Evidence"]["properties"])
    assert {"action", "risk", "requires_approval"} <= set(defs["Remediation"]["properties"])
    assert {"backend", "name", "available"} <= set(defs["ModelUse"]["properties"])
    assert {"total_s", "by_specialist"} <= set(defs["Timings"]["properties"])
