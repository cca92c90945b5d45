"""Scenario format v1 reader: a scenario directory to typed, validated records.

Everything is read and checked at load time (the JSON-lines files are small), and any
problem is a :class:`ScenarioError` naming the file, the line when known and the field.
Unknown keys are ignored at every level; an unknown ``schema_version`` is refused by name.

The loader keeps everything, ground truth and data after ``observed_at`` included. It must
not be what agents see: the recorded backends (:mod:`tools.scenario.replay`) drop data after
``observed_at``, and callers hand agents the sources, topology and alert, never a Scenario.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from tools.alertmanager.webhook import WebhookError, WebhookPayload, parse_webhook
from tools.errors import ToolError
from tools.logs.base import LogRecord
from tools.snmp.base import Varbind
from tools.ssh.recorded import RecordedCommand
from tools.timeutil import iso, parse_ts
from tools.topology import Topology
from tools.vocabulary import FAULTS, LAYERS, check

SCHEMA_VERSION = 1
"""The scenario format version this reader understands."""

_OID = re.compile(r"^\d+(\.\d+)*$")
_M = TypeVar("_M", bound=BaseModel)


class ScenarioError(ToolError):
    """A scenario file is missing or malformed; says which file, line and field."""

    title = "Invalid scenario"

    def __init__(
        self,
        file: str | Path,
        detail: str,
        *,
        line: int | None = None,
        field: str | None = None,
        name_field: bool = True,
    ) -> None:
        self.file = str(file)
        self.line = line
        self.field = field
        self.detail = detail
        where = self.file if line is None else f"{self.file}:{line}"
        what = f"field '{field}': {detail}" if field and name_field else detail
        super().__init__(f"{where}: {what}")


def _utc(value: Any) -> datetime:
    return parse_ts(value).astimezone(UTC)


class _Meta(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Window(_Meta):
    """The span of recorded telemetry around the incident."""

    start: datetime = Field(description="First recorded moment (aware, UTC).")
    end: datetime = Field(description="Last recorded moment (aware, UTC).")

    _aware = field_validator("start", "end", mode="before")(_utc)

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.start > self.end:
            raise ValueError(f"start {iso(self.start)} is after end {iso(self.end)}")
        return self


class GroundTruth(_Meta):
    """The labelled root cause, for scoring. Never shown to agents."""

    layer: str = Field(description="Layer of the root cause (see tools.vocabulary).")
    fault: str = Field(description="Fault within that layer.")
    component: str = Field(description="What is broken, as named in topology or labels.")
    explanation: str = Field(default="", description="Why, for people reading the scenario.")
    red_herrings: tuple[str, ...] = Field(
        default=(), description="Layers whose symptoms are real but downstream."
    )

    @field_validator("layer")
    @classmethod
    def _layer(cls, value: str) -> str:
        if value not in FAULTS:
            raise ValueError(f"unknown layer {value!r}; expected one of {', '.join(LAYERS)}")
        return value

    @field_validator("fault")
    @classmethod
    def _fault(cls, value: str, info: ValidationInfo) -> str:
        layer = info.data.get("layer")
        if layer is not None:  # an unknown layer has already been reported
            check(layer, value)
        return value

    @field_validator("red_herrings")
    @classmethod
    def _herrings(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for layer in value:
            if layer not in FAULTS:
                raise ValueError(f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}")
        return value


class ScenarioMeta(_Meta):
    """The contents of ``scenario.yaml``."""

    schema_version: Literal[1] = Field(description="Format version; this reader knows 1.")
    id: str = Field(description="Scenario id, e.g. 10_stp_loop_dns_symptoms.")
    title: str = Field(description="One line for people.")
    observed_at: datetime = Field(
        description="The diagnosis clock (aware, UTC): nothing after it may be used."
    )
    window: Window = Field(description="Span of the recorded telemetry.")
    topology: Topology = Field(default_factory=Topology, description="Site hints.")
    ground_truth: GroundTruth | None = Field(
        default=None, description="The labelled root cause; None if not yet labelled."
    )
    tags: tuple[str, ...] = Field(default=(), description="Free-form tags.")

    _aware = field_validator("observed_at", mode="before")(_utc)


class Scenario(BaseModel):
    """One recorded incident, fully loaded. ``None`` for an optional file means it is absent."""

    model_config = ConfigDict(frozen=True)

    path: Path = Field(description="The scenario directory.")
    meta: ScenarioMeta = Field(description="scenario.yaml.")
    alert: WebhookPayload = Field(description="alert.json: the Alertmanager webhook body.")
    metrics_path: Path | None = Field(description="metrics.om (OpenMetrics), if recorded.")
    logs: tuple[LogRecord, ...] | None = Field(description="logs.jsonl, if recorded.")
    snmp: tuple[Varbind, ...] | None = Field(description="snmp.jsonl, if recorded.")
    ssh: tuple[RecordedCommand, ...] | None = Field(description="ssh.jsonl, if recorded.")


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate the scenario directory at ``path``.

    Raises:
        ScenarioError: a required file is missing, or any file is malformed (the message
            names the file, the line when known and the field).
    """
    root = Path(path)
    if not root.is_dir():
        raise ScenarioError(root, "not a scenario directory")
    meta = _load_meta(root / "scenario.yaml")
    alert = _load_alert(root / "alert.json")
    metrics = root / "metrics.om"
    logs, snmp, ssh = root / "logs.jsonl", root / "snmp.jsonl", root / "ssh.jsonl"
    return Scenario(
        path=root,
        meta=meta,
        alert=alert,
        metrics_path=metrics if metrics.is_file() else None,
        logs=_load_jsonl(logs, LogRecord) if logs.is_file() else None,
        snmp=_load_jsonl(snmp, Varbind, ("oid", _check_oid)) if snmp.is_file() else None,
        ssh=_load_jsonl(ssh, RecordedCommand) if ssh.is_file() else None,
    )


def _read_text(file: Path) -> str:
    if not file.is_file():
        raise ScenarioError(file, "missing (every scenario needs scenario.yaml and alert.json)")
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(file, f"not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise ScenarioError(file, f"cannot be read: {exc.strerror}") from exc


def _load_meta(file: Path) -> ScenarioMeta:
    loader = yaml.SafeLoader(_read_text(file))
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ScenarioError(
            file,
            f"invalid YAML: {exc.problem or exc.context}",
            line=mark.line + 1 if mark else None,
        ) from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(file, f"invalid YAML: {exc}") from exc
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ScenarioError(file, "expected a YAML mapping at the top level")
    version = data.get("schema_version")
    if version is None:
        raise ScenarioError(file, "missing", field="schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise ScenarioError(
            file,
            f"schema_version {version!r} is not supported "
            f"(this Strata reads version {SCHEMA_VERSION})",
            line=_yaml_line(node, ("schema_version",)),
            field="schema_version",
            name_field=False,
        )
    try:
        return ScenarioMeta.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ScenarioError(
            file, _reason(err), line=_yaml_line(node, err["loc"]), field=_dotted(err["loc"])
        ) from exc


def _load_alert(file: Path) -> WebhookPayload:
    text = _read_text(file)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        detail = f"not valid JSON: {exc.msg} (column {exc.colno})"
        raise ScenarioError(file, detail, line=exc.lineno) from exc
    try:
        return parse_webhook(data)
    except WebhookError as exc:
        cause = exc.__cause__
        if isinstance(cause, ValidationError):
            err = cause.errors()[0]
            raise ScenarioError(file, _reason(err), field=_dotted(err["loc"])) from exc
        raise ScenarioError(file, exc.message) from exc


def _check_oid(obj: dict[str, Any]) -> None:
    oid = obj.get("oid")
    if isinstance(oid, str):
        obj["oid"] = oid = oid.strip().lstrip(".")
        if not _OID.match(oid):
            raise ValueError(f"not a numeric OID: {oid!r}")


def _load_jsonl(
    file: Path,
    model: type[_M],
    prepare: tuple[str, Callable[[dict[str, Any]], None]] | None = None,
) -> tuple[_M, ...]:
    """One ``model`` per non-blank line; every line must carry a valid ``ts``.

    ``prepare`` is (field, function): the function normalises a line's object in place and
    raises ValueError about that field.
    """
    out: list[_M] = []
    for lineno, text in enumerate(_read_text(file).splitlines(), 1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            detail = f"not valid JSON: {exc.msg} (column {exc.colno})"
            raise ScenarioError(file, detail, line=lineno) from exc
        if not isinstance(obj, dict):
            raise ScenarioError(file, "expected a JSON object", line=lineno)
        if "ts" not in obj:
            raise ScenarioError(file, "missing", line=lineno, field="ts")
        try:
            obj["ts"] = _utc(obj["ts"])
        except ValueError as exc:
            raise ScenarioError(file, str(exc), line=lineno, field="ts") from exc
        if prepare is not None:
            field, check_line = prepare
            try:
                check_line(obj)
            except ValueError as exc:
                raise ScenarioError(file, str(exc), line=lineno, field=field) from exc
        try:
            out.append(model.model_validate(obj))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = _dotted(err["loc"])
            raise ScenarioError(file, _reason(err), line=lineno, field=field) from exc
    return tuple(out)


def _dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _reason(err: ErrorDetails) -> str:
    """A short human reason for one pydantic error."""
    if err["type"] == "missing":
        return "missing"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"].endswith(("_type", "_parsing", "literal_error")):
        shown = repr(err.get("input"))
        msg += f" (got {shown[:60]}{'…' if len(shown) > 60 else ''})"
    return msg


def _yaml_line(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the deepest YAML node on ``loc`` (None at the top level)."""
    line: int | None = None
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    child, line = value, key.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line
