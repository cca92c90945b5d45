"""Widgets of the investigation screen."""
