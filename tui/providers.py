"""Where the UI's incidents come from, and how one is investigated.

Three providers behind one small interface:

* :class:`ScenarioProvider` — recorded scenarios (one directory, or a corpus of them):
  each investigation replays the recording through the coordinator;
* :class:`LiveProvider` — the alert groups firing in Alertmanager, investigated over the
  live sources of a ``strata.toml``;
* :class:`ServerProvider` — a running ``strata serve``: its incidents and finished reports
  over its HTTP API (``GET /api/incidents``, ``GET /api/incidents/{id}``).

All I/O is async and meant to run in the App's workers. Problems are raised as
:class:`ProviderError` (a short title and a message) for the UI to show in a modal.
Nothing here changes a site: sources are only read, Alertmanager only queried.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic import ValidationError

from agents.coordinator import ProgressFn, diagnose
from agents.llm import ModelHandle
from agents.models import Diagnosis, Incident
from agents.replay import incident_from_scenario
from tools.config import StrataConfig
from tools.errors import ToolError
from tools.scenario.loader import ScenarioError, load_scenario
from tools.scenario.replay import open_recorded_sources
from tools.timeutil import parse_ts
from tui.evidence import EvidenceDetail, Window, collect_details
from tui.state import IncidentEntry

SERVER_STATUSES = ("queued", "diagnosing", "diagnosed", "abstained", "failed", "resolved")


class ProviderError(Exception):
    """An incident source failed; the message is for the operator."""

    title = "Source failed"

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        if title is not None:
            self.title = title


@dataclass(frozen=True)
class Investigation:
    """A finished investigation: the report and the data behind its evidence."""

    diagnosis: Diagnosis
    details: dict[str, EvidenceDetail]


class Provider(Protocol):
    """An incident source."""

    description: str
    """One line for the header: where the incidents come from."""
    streams: bool
    """Whether investigations stream the specialists' progress (False: finished reports)."""

    async def incidents(self) -> list[IncidentEntry]:
        """The current incidents, newest first where the source knows."""
        ...

    async def investigate(
        self, entry: IncidentEntry, model: ModelHandle, progress: ProgressFn
    ) -> Investigation | None:
        """Investigate ``entry`` (None: no report yet, e.g. still queued on the server).

        Raises:
            ProviderError: the source failed.
        """
        ...


# --------------------------------------------------------------------------- scenarios


def scenario_dirs(path: Path) -> list[Path]:
    """``path`` itself if it is a scenario, else the scenarios directly under it, sorted.

    Raises:
        ProviderError: neither.
    """
    if (path / "scenario.yaml").is_file():
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if (p / "scenario.yaml").is_file())
        if found:
            return found
    raise ProviderError(
        f"{path}: not a scenario directory, nor a directory of scenarios",
        title="No scenarios",
    )


class ScenarioProvider:
    """Recorded incidents, replayed through the coordinator on demand."""

    streams = True

    def __init__(self, paths: list[Path], description: str | None = None) -> None:
        self.paths = paths
        self.description = description or (
            f"scenario {paths[0]}" if len(paths) == 1 else f"{len(paths)} recorded scenarios"
        )

    async def incidents(self) -> list[IncidentEntry]:
        """One entry per scenario; a broken scenario is a failed entry naming the problem."""
        out = []
        for path in self.paths:
            try:
                s = load_scenario(path)
            except ScenarioError as exc:
                out.append(
                    IncidentEntry(
                        key=path.name,
                        alertname=path.name,
                        severity=None,
                        since=None,
                        origin="scenario",
                        status="failed",
                        scenario_path=path,
                        error=str(exc),
                    )
                )
                continue
            lead = s.alert.alerts[0]
            out.append(
                IncidentEntry(
                    key=s.meta.id,
                    alertname=s.alert.alertname,
                    severity=lead.labels.get("severity") or s.alert.common_labels.get("severity"),
                    since=lead.starts_at,
                    origin="scenario",
                    alert=s.alert,
                    scenario_path=path,
                    window_start=s.meta.window.start,
                )
            )
        return out

    async def investigate(
        self, entry: IncidentEntry, model: ModelHandle, progress: ProgressFn
    ) -> Investigation:
        """Replay the scenario; the evidence details come from the same recorded sources."""
        if entry.scenario_path is None:
            raise ProviderError(f"{entry.key} has no scenario directory")
        try:
            scenario = load_scenario(entry.scenario_path)
        except ScenarioError as exc:
            raise ProviderError(str(exc), title=exc.title) from exc
        started = time.perf_counter()
        progress("sources", "opening recorded sources")
        async with open_recorded_sources(scenario) as sources:
            setup_s = time.perf_counter() - started
            for note in sources.notes:
                progress("sources", note)
            progress("sources", "ready; specialists investigating")
            incident = incident_from_scenario(scenario)
            diagnosis = await diagnose(incident, sources, model, progress=progress, setup_s=setup_s)
            window = Window(
                start=incident.window_start,
                end=incident.observed_at,
                alert_at=incident.alert.alerts[0].starts_at,
            )
            details = await collect_details(diagnosis, sources, window)
        return Investigation(diagnosis, details)


# --------------------------------------------------------------------------- live


class LiveProvider:
    """Alert groups firing in Alertmanager, investigated over the configured live sources."""

    streams = True

    def __init__(self, config: StrataConfig) -> None:
        self.config = config
        self.description = f"live: {config.path or 'configuration'}"

    async def incidents(self) -> list[IncidentEntry]:
        """One entry per firing alert group.

        Raises:
            ProviderError: no [alertmanager] configured, or it did not answer.
        """
        from tools.alertmanager.api import AlertmanagerAPI

        am = self.config.alertmanager
        if am is None:
            raise ProviderError(
                "the configuration has no [alertmanager] section to list alerts from",
                title="No Alertmanager",
            )
        now = datetime.now(UTC)
        try:
            async with AlertmanagerAPI(am.url, auth=am.auth, timeout_s=am.timeout_s) as api:
                groups = await api.alert_groups(active=True)
                where = api.url
        except ToolError as exc:
            raise ProviderError(str(exc), title=exc.title) from exc
        out = []
        for group in groups:
            if not group.alerts:
                continue
            payload = group.to_webhook(external_url=where, now=now)
            lead = payload.alerts[0]
            key = group.group_key()
            out.append(
                IncidentEntry(
                    key=key,
                    alertname=payload.alertname,
                    severity=lead.labels.get("severity"),
                    since=lead.starts_at,
                    origin="live",
                    alert=payload,
                )
            )
        out.sort(key=lambda e: e.since or now, reverse=True)
        return out

    async def investigate(
        self, entry: IncidentEntry, model: ModelHandle, progress: ProgressFn
    ) -> Investigation:
        """Diagnose the group's alert over the live sources, the window ending now."""
        from tools.live import open_live_sources

        if entry.alert is None:
            raise ProviderError(f"{entry.key}: no alert to investigate")
        now = datetime.now(UTC).replace(microsecond=0)
        progress("sources", "opening the live sources")
        started = time.perf_counter()
        async with open_live_sources(self.config) as sources:
            setup_s = time.perf_counter() - started
            for note in sources.notes:
                progress("sources", note)
            incident = Incident(
                alert=entry.alert,
                observed_at=now,
                window_start=now - timedelta(minutes=self.config.window_minutes),
                topology=self.config.topology,
            )
            entry.window_start = incident.window_start
            diagnosis = await diagnose(incident, sources, model, progress=progress, setup_s=setup_s)
            window = Window(
                start=incident.window_start, end=now, alert_at=entry.alert.alerts[0].starts_at
            )
            details = await collect_details(diagnosis, sources, window)
        return Investigation(diagnosis, details)


# --------------------------------------------------------------------------- strata serve


class ServerProvider:
    """Incidents and reports of a running ``strata serve``, over its HTTP API."""

    streams = False

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.description = f"server {self.url}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client_args: dict[str, Any] = {
            "base_url": self.url,
            "headers": headers,
            "timeout": timeout_s,
            "transport": transport,
        }

    async def _get(self, path: str) -> Any:
        try:
            async with httpx.AsyncClient(**self._client_args) as client:
                response = await client.get(path)
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"{self.url}{path}: {type(exc).__name__}: {exc}", title="Server unreachable"
            ) from exc
        if response.status_code != 200:
            try:
                detail = response.json().get("error", response.text)
            except ValueError:
                detail = response.text
            raise ProviderError(
                f"{self.url}{path}: HTTP {response.status_code}: {str(detail)[:200]}",
                title="Server refused",
            )
        try:
            return response.json()
        except ValueError as exc:
            raise ProviderError(f"{self.url}{path}: not JSON", title="Bad server answer") from exc

    @staticmethod
    def _entry(item: Any) -> IncidentEntry:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise ProviderError(f"an incident without an id: {str(item)[:120]}", title="Bad answer")
        status = item.get("status")
        if status not in SERVER_STATUSES:
            raise ProviderError(f"incident {item['id']}: unknown status {status!r}")
        since = None
        for key in ("received_at", "updated_at"):
            if isinstance(item.get(key), str):
                try:
                    since = parse_ts(item[key])
                except ValueError:
                    continue
                break
        confidence = item.get("confidence")
        return IncidentEntry(
            key=item["id"],
            alertname=str(item.get("alertname") or "?"),
            severity=item.get("severity"),
            since=since,
            origin="server",
            status=status,
            root_cause=item.get("root_cause"),
            confidence=float(confidence) if isinstance(confidence, int | float) else None,
        )

    async def incidents(self) -> list[IncidentEntry]:
        """``GET /api/incidents``."""
        data = await self._get("/api/incidents")
        items = data.get("incidents") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ProviderError("GET /api/incidents: no 'incidents' list", title="Bad answer")
        return [self._entry(item) for item in items]

    async def investigate(
        self, entry: IncidentEntry, model: ModelHandle, progress: ProgressFn
    ) -> Investigation | None:
        """``GET /api/incidents/{id}``: the server's finished report, if there is one yet."""
        data = await self._get(f"/api/incidents/{entry.key}")
        fresh = self._entry(data)
        entry.status = fresh.status
        progress("sources", f"report from {self.url} ({fresh.status})")
        raw = data.get("diagnosis")
        if raw is None:
            return None
        try:
            diagnosis = Diagnosis.model_validate(raw)
        except ValidationError as exc:
            raise ProviderError(
                f"incident {entry.key}: the diagnosis does not match the Diagnosis JSON: "
                f"{exc.errors()[0]['msg']}",
                title="Bad answer",
            ) from exc
        return Investigation(diagnosis, {})
