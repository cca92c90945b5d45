"""Scenario format v1: load, validate and replay recorded incidents (docs/scenario-format.md)."""
