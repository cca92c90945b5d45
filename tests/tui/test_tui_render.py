"""Pure renderers and plot-data builders, without an App."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agents.models import Diagnosis
from tools.logs.base import LabelMatcher, LineFilter, LogQuery
from tools.logs.logql import render_logql
from tools.metrics.base import Series
from tools.snmp.base import Varbind
from tui.evidence import (
    LogQLParseError,
    Window,
    counter_deltas,
    highlight_spans,
    parse_logql,
    parse_snmp_query,
    plot_from_series,
    snmp_scalar_plot,
)
from tui.render import (
    filter_entries,
    hypothesis_rows,
    incident_row,
    plot_caption,
    strength_bar,
    time_ticks,
)
from tui.state import IncidentEntry, parse_event

T0 = datetime(2024, 12, 14, 2, 40, tzinfo=UTC)
WINDOW = Window(start=T0, end=T0 + timedelta(minutes=32), alert_at=T0 + timedelta(minutes=25))


def test_parse_event_kinds() -> None:
    probe = parse_event("network", "probe snmp [ok] get dot1dStpTopChanges @ sw1")
    assert (probe.kind, probe.source, probe.status, probe.text) == (
        "probe",
        "snmp",
        "ok",
        "get dot1dStpTopChanges @ sw1",
    )
    finding = parse_event("dns", "finding 0.95 CoreDNS: 244 upstream i/o timeouts")
    assert finding.kind == "finding" and finding.strength == 0.95
    done = parse_event("network", "7 findings, 1 hypotheses")
    assert (done.kind, done.findings, done.hypotheses) == ("done", 7, 1)
    assert parse_event("network", "investigating").kind == "start"
    assert parse_event("model", "asking x for a summary").kind == "note"


def _entry(key: str, name: str, status: str = "queued", rc: str | None = None) -> IncidentEntry:
    return IncidentEntry(
        key=key,
        alertname=name,
        severity="warning",
        since=T0,
        origin="scenario",
        status=status,  # type: ignore[arg-type]
        root_cause=rc,
        confidence=0.5 if rc else None,
    )


def test_incident_row_and_filter() -> None:
    a = _entry("10_stp", "KubeAPILatencyHigh", "diagnosed", "network/stp_loop/sw1")
    b = _entry("03_disk", "KubeNodePressure")
    cells = [c.plain for c in incident_row(a)]
    assert cells == [
        "KubeAPILatencyHigh",
        "diagnosed",
        "network/stp_loop/sw1",
        "0.50",
        "warning",
        "2024-12-14 02:40",
    ]
    assert [c.plain for c in incident_row(b)][2:4] == ["—", "—"]
    assert filter_entries([a, b], "stp") == [a]
    assert filter_entries([a, b], "queued node") == [b]
    assert filter_entries([a, b], "") == [a, b]
    assert filter_entries([a, b], "nothing-like-this") == []


def test_hypothesis_rows_rank_root_cause_first(stp_diagnosis: Diagnosis) -> None:
    rows = hypothesis_rows(stp_diagnosis)
    assert rows[0][0].plain.endswith("ROOT CAUSE")
    assert rows[0][1].plain == "network/stp_loop on sw1"
    assert rows[0][2].plain == f"{stp_diagnosis.confidence:.2f}"
    dns = next(r for r in rows if r[1].plain.startswith("dns/"))
    assert dns[0].plain.endswith("SYMPTOM")
    assert "network/stp_loop" in dns[4].plain and "upstream of dns" in dns[4].plain


def test_time_ticks_and_strength_bar() -> None:
    ticks, labels = time_ticks(T0.timestamp(), (T0 + timedelta(minutes=32)).timestamp())
    assert labels == ["02:40", "02:48", "02:56", "03:04", "03:12"]
    assert len(ticks) == 5 and ticks[0] == T0.timestamp()
    assert strength_bar(0.95) == "▰▰▰▰▰"
    assert strength_bar(0.36) == "▰▰▱▱▱"
    assert strength_bar(None) == "?????"


def test_plot_from_series_keeps_highest_peaks_and_drops_nan() -> None:
    def series(name: str, values: list[float]) -> Series:
        pts = tuple((T0 + timedelta(minutes=i), v) for i, v in enumerate(values))
        return Series(labels={"instance": name}, points=pts)

    many = [series(f"n{i}", [0.0, float(i)]) for i in range(8)]
    many.append(series("nan", [float("nan"), float("nan")]))
    plot = plot_from_series("q", many, WINDOW)
    assert [line.label for line in plot.lines] == ["n7", "n6", "n5", "n4", "n3", "n2"]
    assert plot.marks == (("alert", (T0 + timedelta(minutes=25)).timestamp()),)
    assert "n7 peak 7" in plot_caption(plot)
    assert "alert 03:05:00" in plot_caption(plot)


def test_snmp_scalar_plot_and_deltas() -> None:
    polls = [
        Varbind(ts=T0 + timedelta(minutes=i), device="sw1", oid="1.3.6.1.2.1.17.2.4.0",
                type="Counter32", value=41 + 10 * i)
        for i in range(4)
    ]  # fmt: skip
    plot = snmp_scalar_plot("dot1dStpTopChanges @ sw1", polls, WINDOW)
    assert plot.lines[0].ys == (41.0, 51.0, 61.0, 71.0)

    def walk(minute: int, values: dict[int, int]) -> list[Varbind]:
        return [
            Varbind(ts=T0 + timedelta(minutes=minute), device="sw1",
                    oid=f"1.3.6.1.2.1.2.2.1.13.{port}", type="Counter32", value=v)
            for port, v in values.items()
        ]  # fmt: skip

    deltas = counter_deltas("sw1", walk(0, {1: 10, 5: 2**32 - 10}), walk(10, {1: 70, 5: 590}))
    assert deltas is not None
    assert [(r.name, r.delta) for r in deltas.rows] == [
        ("ifInDiscards.5", 600),
        ("ifInDiscards.1", 60),
    ]
    assert deltas.rows[0].per_s == pytest.approx(1.0)
    assert counter_deltas("sw1", [], walk(10, {1: 1})) is None


def test_parse_snmp_query_forms() -> None:
    assert parse_snmp_query("get dot1dStpTopChanges @ sw1") == ("sw1", ("1.3.6.1.2.1.17.2.4.0",))
    assert parse_snmp_query("walk ifInErrors (1.3.6.1.2.1.2.2.1.14) @ sw1") == (
        "sw1",
        ("1.3.6.1.2.1.2.2.1.14",),
    )
    assert parse_snmp_query(
        "1.3.6.1.2.1.2.2.1.13, 1.3.6.1.2.1.2.2.1.19 @ sw1 (58 polls 02:40–03:11)"
    ) == ("sw1", ("1.3.6.1.2.1.2.2.1.13", "1.3.6.1.2.1.2.2.1.19"))
    with pytest.raises(ValueError, match="no '@ device'"):
        parse_snmp_query("get something")
    with pytest.raises(ValueError, match="unknown SNMP object"):
        parse_snmp_query("get noSuchThing @ sw1")


def test_parse_logql_inverts_render_logql() -> None:
    query = LogQuery(
        matchers=(LabelMatcher(label="app", value="coredns"),
                  LabelMatcher(label="ns", op="=~", value='kube-.*"x\\y')),
        filters=(LineFilter(value="i/o timeout"), LineFilter(op="!~", value="\\d+ debug")),
        start=T0,
        end=T0,
    )  # fmt: skip
    matchers, filters = parse_logql(render_logql(query))
    assert matchers == query.matchers
    assert filters == query.filters
    with pytest.raises(LogQLParseError):
        parse_logql('rate({app="x"}[5m])')
    with pytest.raises(LogQLParseError):
        parse_logql('{app="x"} | json')


def test_highlight_spans_merges_matches() -> None:
    line = "read udp 10.244.1.4:56954->10.0.0.1:53: i/o timeout; i/o timeout"
    spans = highlight_spans(line, [LineFilter(value="i/o timeout"), LineFilter(op="!=", value="x")])
    assert [line[s:e] for s, e in spans] == ["i/o timeout", "i/o timeout"]
    spans = highlight_spans("%SPANTREE-5-TOPOTRAP x", [LineFilter(op="|~", value="%SPANTREE|TOPO")])
    assert spans == [(0, 9), (12, 16)]
    assert highlight_spans("abc", [LineFilter(op="|~", value="(")]) == []
