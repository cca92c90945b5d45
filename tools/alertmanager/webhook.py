"""The Alertmanager webhook body, version "4", as typed records.

Unknown keys are ignored (newer Alertmanagers add e.g. ``notification_reason``);
a payload of another version is refused by name.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tools.errors import ToolError
from tools.timeutil import parse_ts

GO_ZERO_TIME = "0001-01-01T00:00:00Z"


class WebhookError(ToolError):
    """The body is not a valid Alertmanager webhook payload."""

    title = "Invalid webhook payload"


class Alert(BaseModel):
    """One alert of the group."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    status: Literal["firing", "resolved"] = Field(description="Firing or resolved.")
    labels: dict[str, str] = Field(description="Alert labels, including alertname.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Annotations.")
    starts_at: datetime = Field(alias="startsAt", description="When the alert started firing.")
    ends_at: datetime | None = Field(
        default=None, alias="endsAt", description="When it resolved; None while firing."
    )
    generator_url: str = Field(default="", alias="generatorURL", description="Source link.")
    fingerprint: str = Field(default="", description="Alertmanager's fingerprint of the labels.")

    @field_validator("starts_at", mode="before")
    @classmethod
    def _starts(cls, value: Any) -> datetime:
        return parse_ts(value)

    @field_validator("ends_at", mode="before")
    @classmethod
    def _ends(cls, value: Any) -> datetime | None:
        if value in (None, "", GO_ZERO_TIME) or (
            isinstance(value, str) and value.startswith("0001-01-01")
        ):
            return None
        return parse_ts(value)

    @property
    def alertname(self) -> str:
        """The ``alertname`` label, or ``""``."""
        return self.labels.get("alertname", "")


class WebhookPayload(BaseModel):
    """The whole POST body of one notification."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    version: Literal["4"] = Field(description="Payload version; only 4 exists.")
    group_key: str = Field(default="", alias="groupKey", description="Identifies the group.")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", description="Dropped.")
    status: Literal["firing", "resolved"] = Field(description="Group status.")
    receiver: str = Field(default="", description="Receiver name.")
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL", description="Alertmanager URL.")
    alerts: tuple[Alert, ...] = Field(min_length=1, description="The alerts, at least one.")

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        if value != "4":
            raise ValueError(f"unsupported webhook version {value!r}; Strata reads version '4'")
        return value

    @property
    def alertname(self) -> str:
        """The group's alertname (common label, else the first alert's)."""
        return self.common_labels.get("alertname") or self.alerts[0].alertname

    @property
    def fingerprint(self) -> str:
        """The first alert's fingerprint (stable identity of the incident's lead alert)."""
        return self.alerts[0].fingerprint


def parse_webhook(data: bytes | str | dict[str, Any]) -> WebhookPayload:
    """Validate a webhook body.

    Raises:
        WebhookError: malformed JSON or a payload that breaks the schema; the message
            names the first offending field.
    """
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise WebhookError(
                f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from exc
    if not isinstance(data, dict):
        raise WebhookError("the payload must be a JSON object")
    try:
        return WebhookPayload.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise WebhookError(f"{where}: {first['msg']}") from exc
