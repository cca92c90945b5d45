"""Operator feedback and remediation marks, kept in SQLite, and export as labelled scenarios.

The store lives in the user's data directory (``platformdirs``), or in ``$STRATA_DATA_DIR``
when set. Each feedback row keeps what is needed to turn the incident into a format-v1
scenario later: the alert payload, the diagnosis clock and window, the recording it came
from (if any) and the operator's answer — so corrections grow the corpus and the
calibration. Marks on remediation steps ("done", "approved") are only recorded: Strata
executes nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import platformdirs

from tools.scenario.loader import ScenarioError, load_scenario
from tools.scenario.writer import go_json, rfc3339, write_scenario_yaml
from tools.vocabulary import check as check_vocabulary

DATA_DIR_ENV = "STRATA_DATA_DIR"
"""Overrides where the store lives (tests, several installs side by side)."""
DB_NAME = "tui.sqlite3"
RECORDINGS = ("metrics.om", "logs.jsonl", "snmp.jsonl", "ssh.jsonl")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_key TEXT NOT NULL,
    origin TEXT NOT NULL,
    alertname TEXT NOT NULL,
    correct INTEGER NOT NULL,
    layer TEXT NOT NULL,
    fault TEXT NOT NULL,
    component TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    predicted TEXT,
    observed_at TEXT NOT NULL,
    window_start TEXT NOT NULL,
    alert_json TEXT NOT NULL,
    diagnosis_json TEXT,
    scenario_path TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_incident ON feedback (incident_key);
CREATE TABLE IF NOT EXISTS remediation_marks (
    incident_key TEXT NOT NULL,
    idx INTEGER NOT NULL,
    action TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('done', 'approved')),
    at TEXT NOT NULL,
    PRIMARY KEY (incident_key, idx)
);
"""


class FeedbackError(Exception):
    """Feedback that cannot be stored or exported; the message says why."""

    title = "Feedback"


def data_dir() -> Path:
    """``$STRATA_DATA_DIR``, else the platform's user data directory for ``strata``."""
    override = os.environ.get(DATA_DIR_ENV)
    return Path(override) if override else Path(platformdirs.user_data_dir("strata"))


@dataclass(frozen=True)
class Feedback:
    """One operator answer about one incident."""

    incident_key: str
    origin: str
    alertname: str
    correct: bool
    """The operator confirmed the diagnosis."""
    layer: str
    fault: str
    component: str
    note: str
    predicted: str | None
    """``layer/fault/component`` Strata had answered."""
    observed_at: datetime
    window_start: datetime
    alert_json: str
    """The Alertmanager webhook body, as JSON text."""
    diagnosis_json: str | None
    scenario_path: str | None
    created_at: datetime

    @property
    def label(self) -> str:
        """``layer/fault/component``."""
        return f"{self.layer}/{self.fault}/{self.component}"


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FeedbackStore:
    """The SQLite store (one small file; every call is one short transaction)."""

    def __init__(self, path: Path | None = None) -> None:
        """
        Raises:
            FeedbackError: the directory or the database cannot be opened.
        """
        self.path = path or data_dir() / DB_NAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise FeedbackError(f"cannot open the feedback store {self.path}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=5.0)
        db.row_factory = sqlite3.Row
        return db

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        try:
            db = self._connect()
            try:
                with db:
                    return db.execute(sql, params).fetchall()
            finally:
                db.close()
        except sqlite3.Error as exc:
            raise FeedbackError(f"feedback store {self.path}: {exc}") from exc

    def record(
        self,
        *,
        incident_key: str,
        origin: str,
        alertname: str,
        correct: bool,
        layer: str,
        fault: str,
        component: str,
        observed_at: datetime,
        window_start: datetime,
        alert_json: str,
        note: str = "",
        predicted: str | None = None,
        diagnosis_json: str | None = None,
        scenario_path: str | None = None,
        now: datetime | None = None,
    ) -> Feedback:
        """Store an answer (the latest one per incident is the one that counts).

        Raises:
            FeedbackError: ``layer``/``fault`` outside the vocabulary, or no component.
        """
        try:
            check_vocabulary(layer, fault)
        except ValueError as exc:
            raise FeedbackError(str(exc)) from exc
        component = component.strip()
        if not component:
            raise FeedbackError("say which component is broken (a node, device, pod, service)")
        created = (now or datetime.now(UTC)).astimezone(UTC)
        self._run(
            "INSERT INTO feedback (incident_key, origin, alertname, correct, layer, fault,"
            " component, note, predicted, observed_at, window_start, alert_json,"
            " diagnosis_json, scenario_path, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                incident_key,
                origin,
                alertname,
                int(correct),
                layer,
                fault,
                component,
                note,
                predicted,
                observed_at.astimezone(UTC).isoformat(),
                window_start.astimezone(UTC).isoformat(),
                alert_json,
                diagnosis_json,
                scenario_path,
                created.isoformat(),
            ),
        )
        latest = self.latest(incident_key)
        assert latest is not None
        return latest

    @staticmethod
    def _feedback(row: sqlite3.Row) -> Feedback:
        return Feedback(
            incident_key=row["incident_key"],
            origin=row["origin"],
            alertname=row["alertname"],
            correct=bool(row["correct"]),
            layer=row["layer"],
            fault=row["fault"],
            component=row["component"],
            note=row["note"],
            predicted=row["predicted"],
            observed_at=_ts(row["observed_at"]),
            window_start=_ts(row["window_start"]),
            alert_json=row["alert_json"],
            diagnosis_json=row["diagnosis_json"],
            scenario_path=row["scenario_path"],
            created_at=_ts(row["created_at"]),
        )

    def latest(self, incident_key: str) -> Feedback | None:
        """The newest answer about ``incident_key``."""
        rows = self._run(
            "SELECT * FROM feedback WHERE incident_key = ? ORDER BY id DESC LIMIT 1",
            (incident_key,),
        )
        return self._feedback(rows[0]) if rows else None

    def all(self) -> list[Feedback]:
        """The newest answer of every incident, oldest incident first."""
        rows = self._run(
            "SELECT * FROM feedback WHERE id IN"
            " (SELECT MAX(id) FROM feedback GROUP BY incident_key) ORDER BY id"
        )
        return [self._feedback(r) for r in rows]

    def mark(
        self,
        incident_key: str,
        index: int,
        action: str,
        state: Literal["done", "approved"],
        *,
        now: datetime | None = None,
    ) -> None:
        """Record that the operator approved or did remediation step ``index``."""
        at = (now or datetime.now(UTC)).astimezone(UTC).isoformat()
        self._run(
            "INSERT INTO remediation_marks (incident_key, idx, action, state, at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (incident_key, idx)"
            " DO UPDATE SET state = excluded.state, at = excluded.at, action = excluded.action",
            (incident_key, index, action, state, at),
        )

    def marks(self, incident_key: str) -> dict[int, tuple[str, datetime]]:
        """Step index → (state, when) for ``incident_key``."""
        rows = self._run(
            "SELECT idx, state, at FROM remediation_marks WHERE incident_key = ?",
            (incident_key,),
        )
        return {r["idx"]: (r["state"], _ts(r["at"])) for r in rows}


# --------------------------------------------------------------------------- export

_SLUG = re.compile(r"[^a-z0-9]+")


def scenario_id(fb: Feedback) -> str:
    """A directory-safe id: ``feedback_<alert>_<YYYYmmddTHHMM>``."""
    alert = _SLUG.sub("_", fb.alertname.lower()).strip("_") or "alert"
    return f"feedback_{alert}_{fb.observed_at.astimezone(UTC).strftime('%Y%m%dT%H%M')}"


def export_scenario(fb: Feedback, out: Path) -> Path:
    """Write ``fb`` as a labelled format-v1 scenario directory at ``out`` and check it loads.

    The recording's telemetry files are copied when the incident came from one; otherwise
    the scenario holds the alert only (format v1 allows absent sources). The ground truth
    is the operator's answer, never the recording's own label.

    Raises:
        FeedbackError: ``out`` exists and is not empty, or the result does not validate.
    """
    if out.exists() and any(out.iterdir()):
        raise FeedbackError(f"{out} exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    title = f"{fb.alertname}: labelled by an operator as {fb.label}"
    topology: dict[str, Any] = {}
    tags = ["feedback", "confirmed" if fb.correct else "corrected"]
    window_end = fb.observed_at
    src = Path(fb.scenario_path) if fb.scenario_path else None
    if src is not None:
        try:
            source = load_scenario(src)
        except ScenarioError as exc:
            raise FeedbackError(f"the recording it came from no longer loads: {exc}") from exc
        for name in RECORDINGS:
            if (src / name).is_file():
                shutil.copyfile(src / name, out / name)
        shutil.copyfile(src / "alert.json", out / "alert.json")
        topology = source.meta.topology.model_dump(mode="json", exclude_defaults=True)
        window_end = source.meta.window.end
        tags.append(f"from:{source.meta.id}")
    else:
        (out / "alert.json").write_text(
            go_json(json.loads(fb.alert_json)), encoding="utf-8", newline="\n"
        )
    meta: dict[str, Any] = {
        "schema_version": 1,
        "id": out.name,
        "title": title,
        "observed_at": rfc3339(fb.observed_at),
        "window": {"start": rfc3339(fb.window_start), "end": rfc3339(window_end)},
    }
    if topology:
        meta["topology"] = topology
    ground_truth: dict[str, Any] = {
        "layer": fb.layer,
        "fault": fb.fault,
        "component": fb.component,
    }
    explanation = fb.note or (
        "Confirmed by an operator."
        if fb.correct
        else f"Corrected by an operator (Strata said {fb.predicted})."
    )
    ground_truth["explanation"] = explanation
    meta["ground_truth"] = ground_truth
    meta["tags"] = tags
    write_scenario_yaml(out / "scenario.yaml", meta)
    try:
        load_scenario(out)
    except ScenarioError as exc:
        raise FeedbackError(f"the exported scenario does not validate: {exc}") from exc
    return out
