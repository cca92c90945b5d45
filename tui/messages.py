"""Small messages the App's workers post to the screens (toolong's ``messages.py`` style)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class IncidentsChanged(Message):
    """The incident list was (re)loaded."""


@dataclass
class IncidentUpdated(Message):
    """Something about one incident changed: its status, a specialist's stream, its report."""

    key: str
    who: str = ""
    """The specialist whose panel changed ("" when the whole incident did)."""
