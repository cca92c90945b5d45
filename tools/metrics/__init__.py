"""Metrics: PromQL over a Prometheus-compatible API (recorded or live)."""

from tools.metrics.base import MetricsSource, Sample, Series
from tools.metrics.promql import escape_label_value, selector

__all__ = ["MetricsSource", "Sample", "Series", "escape_label_value", "selector"]
