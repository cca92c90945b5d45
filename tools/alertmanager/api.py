"""A read-only client for Alertmanager's HTTP API v2: alerts, alert groups and silences.

Answers become frozen, typed records; :meth:`AlertGroup.to_webhook` turns a group into the
version-4 webhook body Alertmanager would POST for it, so an incident can be opened from
the API (polling) exactly as from a webhook. This module never changes Alertmanager state
(no POSTs, no silences created or expired), never prints, and never puts credentials in a
message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, TypeVar

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from tools.alertmanager.webhook import WebhookPayload, parse_webhook
from tools.errors import QueryError, SourceUnavailable
from tools.http_auth import HttpAuth, RetryPolicy, error_text, get_with_retries, redact_url
from tools.metrics.promql import escape_label_value
from tools.timeutil import iso, parse_ts

_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_T = TypeVar("_T")


class AlertStatus(BaseModel):
    """Where Alertmanager has an alert: active, silenced/inhibited, or not yet processed."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    state: Literal["active", "suppressed", "unprocessed"] = Field(description="Alert state.")
    silenced_by: tuple[str, ...] = Field(
        default=(), alias="silencedBy", description="Ids of the silences muting it."
    )
    inhibited_by: tuple[str, ...] = Field(
        default=(), alias="inhibitedBy", description="Fingerprints of the alerts inhibiting it."
    )


class ApiAlert(BaseModel):
    """One alert as ``GET /api/v2/alerts`` returns it (the API's ``gettableAlert``)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    labels: dict[str, str] = Field(description="Alert labels, including alertname.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Annotations.")
    starts_at: datetime = Field(alias="startsAt", description="When it started firing.")
    ends_at: datetime = Field(
        alias="endsAt",
        description="When it resolves unless refreshed (in the future while it fires).",
    )
    updated_at: datetime | None = Field(default=None, alias="updatedAt", description="Last update.")
    generator_url: str = Field(default="", alias="generatorURL", description="Source link.")
    fingerprint: str = Field(description="Alertmanager's fingerprint of the labels.")
    receivers: tuple[str, ...] = Field(default=(), description="Names of its receivers.")
    status: AlertStatus = Field(description="Active, suppressed or unprocessed.")

    @field_validator("receivers", mode="before")
    @classmethod
    def _receivers(cls, value: Any) -> Any:  # the API sends [{"name": "team"}]
        if isinstance(value, list | tuple):
            return tuple(v.get("name") if isinstance(v, dict) else v for v in value)
        return value

    @field_validator("starts_at", "ends_at", "updated_at", mode="before")
    @classmethod
    def _ts(cls, value: Any) -> datetime | None:
        return None if value is None else parse_ts(value)

    @property
    def alertname(self) -> str:
        """The ``alertname`` label, or ``""``."""
        return self.labels.get("alertname", "")

    def firing(self, now: datetime) -> bool:
        """Whether it still fires at ``now`` (Alertmanager's rule: ``endsAt`` not yet past)."""
        return self.ends_at > parse_ts(now)

    def to_webhook_alert(self, now: datetime) -> dict[str, Any]:
        """This alert as a webhook ``alerts[]`` item (JSON-shaped, ``endsAt`` zero if firing)."""
        firing = self.firing(now)
        return {
            "status": "firing" if firing else "resolved",
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": iso(self.starts_at),
            "endsAt": "0001-01-01T00:00:00Z" if firing else iso(self.ends_at),
            "generatorURL": self.generator_url,
            "fingerprint": self.fingerprint,
        }


class AlertGroup(BaseModel):
    """One group as ``GET /api/v2/alerts/groups`` returns it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    labels: dict[str, str] = Field(description="The group-by labels and their values.")
    receiver: str = Field(description="The receiver the group is routed to.")
    alerts: tuple[ApiAlert, ...] = Field(description="Its alerts (as filtered by the request).")

    @field_validator("receiver", mode="before")
    @classmethod
    def _receiver(cls, value: Any) -> Any:
        return value.get("name") if isinstance(value, dict) else value

    def group_key(self) -> str:
        """A ``groupKey`` in Alertmanager's format for the root route: ``{}:{a="x", ...}``.

        The API does not say which route grouped the alerts, so nested routes' path part
        is not reproduced.
        """
        labels = ", ".join(f'{k}="{escape_label_value(v)}"' for k, v in sorted(self.labels.items()))
        return "{}:{" + labels + "}"

    def to_webhook(self, external_url: str = "", now: datetime | None = None) -> WebhookPayload:
        """The version-4 webhook body Alertmanager would send for this group.

        Equal to Alertmanager's own, except that times are to the millisecond (as the API
        reports them) and ``groupKey`` assumes the root route (see :meth:`group_key`).

        Args:
            external_url: Alertmanager's external URL (the payload's ``externalURL``).
            now: the time that decides firing vs resolved; default now.

        Raises:
            tools.alertmanager.webhook.WebhookError: the group has no alerts.
        """
        when = datetime.now(UTC) if now is None else parse_ts(now)
        alerts = [a.to_webhook_alert(when) for a in self.alerts]

        def common(key: str) -> dict[str, str]:
            maps: list[dict[str, str]] = [a[key] for a in alerts]
            if not maps:
                return {}
            return {k: v for k, v in maps[0].items() if all(m.get(k) == v for m in maps[1:])}

        return parse_webhook(
            {
                "version": "4",
                "groupKey": self.group_key(),
                "truncatedAlerts": 0,
                "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
                "receiver": self.receiver,
                "groupLabels": self.labels,
                "commonLabels": common("labels"),
                "commonAnnotations": common("annotations"),
                "externalURL": external_url,
                "alerts": alerts,
            }
        )


class SilenceMatcher(BaseModel):
    """One matcher of a silence."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    name: str = Field(description="Label name.")
    value: str = Field(description="Value, or a regex when is_regex.")
    is_regex: bool = Field(alias="isRegex", description="Whether value is a regex.")
    is_equal: bool = Field(default=True, alias="isEqual", description="False: negated matcher.")


class Silence(BaseModel):
    """One silence as ``GET /api/v2/silences`` returns it."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    id: str = Field(description="Silence id.")
    state: Literal["active", "pending", "expired"] = Field(description="Its state.")
    matchers: tuple[SilenceMatcher, ...] = Field(description="Which alerts it mutes.")
    starts_at: datetime = Field(alias="startsAt", description="Start.")
    ends_at: datetime = Field(alias="endsAt", description="End.")
    updated_at: datetime | None = Field(default=None, alias="updatedAt", description="Updated.")
    created_by: str = Field(default="", alias="createdBy", description="Author.")
    comment: str = Field(default="", description="Why it was created.")

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, value: Any) -> Any:  # the API nests the state: {"status": {"state"}}
        if isinstance(value, dict) and "state" not in value:
            status = value.get("status")
            return {**value, "state": status.get("state") if isinstance(status, dict) else None}
        return value

    @field_validator("starts_at", "ends_at", "updated_at", mode="before")
    @classmethod
    def _ts(cls, value: Any) -> datetime | None:
        return None if value is None else parse_ts(value)


def render_matchers(matchers: Mapping[str, str]) -> list[str]:
    """``{"alertname": 'Disk "full"'}`` as ``['alertname="Disk \\"full\\""']`` (API filters).

    Raises:
        ValueError: a label name Alertmanager cannot match on.
    """
    out = []
    for name, value in matchers.items():
        if not _LABEL.match(name):
            raise ValueError(f"invalid label name {name!r}")
        out.append(f'{name}="{escape_label_value(value)}"')
    return out


class AlertmanagerAPI:
    """Alerts, groups and silences from Alertmanager's API v2 (read-only).

    Use as ``async with AlertmanagerAPI(url, auth=...) as am: ...`` (or call :meth:`aclose`).
    """

    def __init__(
        self,
        url: str,
        *,
        auth: HttpAuth | None = None,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """
        Args:
            url: Alertmanager's base URL (``/api/v2/...`` is appended).
            auth: credentials and TLS settings; none by default.
            timeout_s: per HTTP attempt.
            retry: retries after a connection error, timeout, 429 or 5xx.
            transport: an httpx transport to use instead of the network (tests).

        Raises:
            tools.errors.SourceUnavailable: the CA file cannot be read.
        """
        self.url = redact_url(url.rstrip("/"))
        self._retry = retry or RetryPolicy()
        self._http = (auth or HttpAuth()).httpx_client(
            url.rstrip("/"), timeout_s=timeout_s, transport=transport
        )

    async def __aenter__(self) -> AlertmanagerAPI:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    async def alerts(
        self,
        *,
        active: bool = True,
        silenced: bool = False,
        inhibited: bool = False,
        unprocessed: bool = True,
        matchers: Mapping[str, str] | None = None,
        receiver: str | None = None,
    ) -> list[ApiAlert]:
        """Alerts in the given states (default: firing, neither silenced nor inhibited).

        Args:
            active, silenced, inhibited, unprocessed: which states to include.
            matchers: equality label matchers, all must hold.
            receiver: a regex the receiver's name must match.

        Raises:
            ValueError: an invalid label name in ``matchers``.
            tools.errors.QueryError: Alertmanager rejected the filter.
            tools.errors.SourceUnavailable: it cannot be reached or sent something unexpected
                (AuthenticationFailed when it refuses the credentials).
        """
        params = self._filters(active, silenced, inhibited, unprocessed, matchers, receiver)
        return await self._get("/api/v2/alerts", params, list[ApiAlert])

    async def alert_groups(
        self,
        *,
        active: bool = True,
        silenced: bool = False,
        inhibited: bool = False,
        matchers: Mapping[str, str] | None = None,
        receiver: str | None = None,
    ) -> list[AlertGroup]:
        """Alerts grouped as Alertmanager's routes group them (filters as :meth:`alerts`).

        Raises: as :meth:`alerts`.
        """
        params = self._filters(active, silenced, inhibited, None, matchers, receiver)
        return await self._get("/api/v2/alerts/groups", params, list[AlertGroup])

    async def silences(
        self, *, matchers: Mapping[str, str] | None = None, include_expired: bool = False
    ) -> list[Silence]:
        """Silences (active and pending; expired ones too with ``include_expired``).

        Raises: as :meth:`alerts`.
        """
        params: dict[str, str | list[str]] = {"filter": render_matchers(matchers or {})}
        silences = await self._get("/api/v2/silences", params, list[Silence])
        return [s for s in silences if include_expired or s.state != "expired"]

    @staticmethod
    def _filters(
        active: bool,
        silenced: bool,
        inhibited: bool,
        unprocessed: bool | None,
        matchers: Mapping[str, str] | None,
        receiver: str | None,
    ) -> dict[str, str | list[str]]:
        flags = {"active": active, "silenced": silenced, "inhibited": inhibited}
        if unprocessed is not None:
            flags["unprocessed"] = unprocessed
        params: dict[str, str | list[str]] = {k: str(v).lower() for k, v in flags.items()}
        params["filter"] = render_matchers(matchers or {})
        if receiver is not None:
            params["receiver"] = receiver
        return params

    async def _get(self, path: str, params: dict[str, str | list[str]], kind: type[_T]) -> _T:
        response = await get_with_retries(
            self._http, path, params, what="Alertmanager", url=self.url, retry=self._retry
        )
        if response.status_code != 200:
            raise QueryError(f"Alertmanager at {self.url} refused {path}: {error_text(response)}")
        try:
            return TypeAdapter(kind).validate_json(response.content)
        except ValidationError as exc:
            raise SourceUnavailable(self._shape_error(path, exc)) from exc

    def _shape_error(self, path: str, exc: ValidationError) -> str:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        return (
            f"Alertmanager at {self.url} sent an unexpected {path} answer: {where}: {first['msg']}"
        )
