"""Strata's data sources: the only code that talks to the outside world.

Each source (metrics, logs, SNMP, SSH, alerts) has typed records, one error
hierarchy rooted at :class:`tools.errors.ToolError`, and backends behind one
interface: recorded (a scenario directory) now, live servers later. Nothing in
here knows about agents or diagnoses.
"""
