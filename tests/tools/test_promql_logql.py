"""PromQL and LogQL are built from typed parts, with escaping; invalid names are refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tools.logs.base import LabelMatcher, LineFilter, LogQuery
from tools.logs.logql import render_logql
from tools.metrics.promql import escape_label_value, selector

T = datetime(2024, 12, 14, 3, 12, tzinfo=UTC)


def test_escape_quotes_backslashes_newlines() -> None:
    assert escape_label_value('a"b') == 'a\\"b'
    assert escape_label_value("a\\b") == "a\\\\b"
    assert escape_label_value("a\nb") == "a\\nb"
    # a backslash before a quote must not end up escaping the closing quote
    assert escape_label_value('\\"') == '\\\\\\"'


def test_selector_plain_and_with_matchers() -> None:
    assert selector("up") == "up"
    assert (
        selector("node_load1", ("instance", "=~", "node-.*"), job="node")
        == 'node_load1{instance=~"node-.*", job="node"}'
    )


def test_selector_cannot_be_broken_out_of() -> None:
    evil = 'x"} or vector(1) # \n'
    text = selector("up", pod=evil)
    assert text == 'up{pod="x\\"} or vector(1) # \\n"}'
    assert "\n" not in text


@pytest.mark.parametrize("metric", ["1up", "up-time", "up{x}", "", "up time"])
def test_selector_rejects_invalid_metric_names(metric: str) -> None:
    with pytest.raises(ValueError, match="invalid metric name"):
        selector(metric)


@pytest.mark.parametrize("label", ["1a", "a-b", "a:b", "", "__name__ "])
def test_selector_rejects_invalid_label_names(label: str) -> None:
    with pytest.raises(ValueError, match="invalid label name"):
        selector("up", (label, "=", "x"))


def test_selector_rejects_unknown_operators() -> None:
    with pytest.raises(ValueError, match="invalid matcher operator"):
        selector("up", ("job", "==", "x"))


def query(*matchers: LabelMatcher, filters: tuple[LineFilter, ...] = ()) -> LogQuery:
    return LogQuery(matchers=matchers, filters=filters, start=T, end=T)


def test_logql_render() -> None:
    q = query(
        LabelMatcher(label="namespace", value="kube-system"),
        LabelMatcher(label="app", op="=~", value="core.*"),
        filters=(LineFilter(value="error"), LineFilter(op="!=", value="debug")),
    )
    assert render_logql(q) == '{namespace="kube-system", app=~"core.*"} |= "error" != "debug"'


def test_logql_escapes_values_and_filters() -> None:
    q = query(
        LabelMatcher(label="pod", value='we"ird\\pod'),
        filters=(LineFilter(value='say "hi"\nnext'),),
    )
    assert render_logql(q) == '{pod="we\\"ird\\\\pod"} |= "say \\"hi\\"\\nnext"'


@pytest.mark.parametrize("label", ["k8s-app", "1x", "a.b", ""])
def test_logql_rejects_invalid_label_names(label: str) -> None:
    with pytest.raises(ValueError, match="invalid label name"):
        render_logql(query(LabelMatcher(label=label, value="x")))
