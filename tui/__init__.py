"""Strata's terminal UI (``strata tui``), built on Textual."""
