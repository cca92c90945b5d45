"""Logs: a structured query (label matchers, line filters, window) over Loki or a recording."""

from tools.logs.base import LabelMatcher, LineFilter, LogQuery, LogRecord, LogSource
from tools.logs.logql import render_logql

__all__ = ["LabelMatcher", "LineFilter", "LogQuery", "LogRecord", "LogSource", "render_logql"]
