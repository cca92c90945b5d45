"""tools.alertmanager.webhook against real payload samples and broken ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tools.alertmanager.webhook import WebhookError, parse_webhook

FIXTURES = Path(__file__).parent.parent / "fixtures" / "alertmanager"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def test_docsrs_sample() -> None:
    payload = parse_webhook((FIXTURES / "webhook_v4_docsrs.json").read_bytes())
    assert payload.version == "4"
    assert payload.status == "firing"
    assert payload.receiver == "sms"
    assert payload.alertname == "ProbeFailure"
    assert payload.fingerprint == "1a30ba71cca2921f"
    assert payload.group_key == '{}/{severity="critical"}:{alertname="ProbeFailure"}'
    assert payload.truncated_alerts == 0
    alert = payload.alerts[0]
    assert alert.starts_at == datetime(2023, 2, 6, 13, 8, 45, 828000, tzinfo=UTC)
    assert alert.ends_at is None  # Go's zero time means "still firing"
    assert alert.labels["severity"] == "critical"
    assert alert.annotations["summary"].startswith("BlackBox Probe Failure")


def test_gist_sample_without_newer_fields() -> None:
    payload = parse_webhook((FIXTURES / "webhook_v4_gist_mobeigi.json").read_text())
    assert payload.alertname == "Test"
    assert payload.fingerprint == ""
    assert payload.truncated_alerts == 0
    assert payload.group_labels == {"alertname": "Test", "job": "prometheus24"}
    # +02:00 with nanoseconds, normalised to UTC microseconds
    assert payload.alerts[0].starts_at == datetime(2018, 8, 3, 7, 52, 26, 739266, tzinfo=UTC)
    assert "&g0.tab=1" in payload.alerts[0].generator_url


def test_unknown_keys_are_ignored() -> None:
    data = load("webhook_v4_docsrs.json")
    data["notification_reason"] = "new in a later Alertmanager"
    data["alerts"][0]["silencedBy"] = []
    assert parse_webhook(data).alertname == "ProbeFailure"


def test_resolved_alert_keeps_its_end() -> None:
    data = load("webhook_v4_docsrs.json")
    data["status"] = data["alerts"][0]["status"] = "resolved"
    data["alerts"][0]["endsAt"] = "2023-02-06T13:20:00Z"
    alert = parse_webhook(data).alerts[0]
    assert alert.ends_at == datetime(2023, 2, 6, 13, 20, tzinfo=UTC)


def test_common_label_wins_over_first_alert() -> None:
    data = load("webhook_v4_docsrs.json")
    data["commonLabels"]["alertname"] = "Grouped"
    assert parse_webhook(data).alertname == "Grouped"


def test_malformed_json() -> None:
    with pytest.raises(WebhookError, match=r"not JSON: .* line 1"):
        parse_webhook('{"version": "4",')


def test_not_an_object() -> None:
    with pytest.raises(WebhookError, match="JSON object"):
        parse_webhook("[1, 2]")


@pytest.mark.parametrize("version", ["3", 4, "5"])
def test_other_versions_are_refused_by_name(version: object) -> None:
    data = load("webhook_v4_docsrs.json")
    data["version"] = version
    with pytest.raises(WebhookError, match=r"^version: .*unsupported webhook version"):
        parse_webhook(data)


def test_missing_alerts() -> None:
    data = load("webhook_v4_docsrs.json")
    del data["alerts"]
    with pytest.raises(WebhookError, match=r"^alerts: Field required"):
        parse_webhook(data)


def test_empty_alerts() -> None:
    data = load("webhook_v4_docsrs.json")
    data["alerts"] = []
    with pytest.raises(WebhookError, match=r"^alerts: .*at least 1"):
        parse_webhook(data)


def test_bad_alert_timestamp_names_the_field() -> None:
    data = load("webhook_v4_docsrs.json")
    data["alerts"][0]["startsAt"] = "soon"
    with pytest.raises(WebhookError, match=r"^alerts\.0\.startsAt: .*not an RFC 3339"):
        parse_webhook(data)


def test_bad_status() -> None:
    data = load("webhook_v4_docsrs.json")
    data["status"] = "burning"
    with pytest.raises(WebhookError, match=r"^status: "):
        parse_webhook(data)
