"""Alertmanager: the webhook payload it POSTs (version 4)."""

from tools.alertmanager.webhook import Alert, WebhookPayload, parse_webhook

__all__ = ["Alert", "WebhookPayload", "parse_webhook"]
