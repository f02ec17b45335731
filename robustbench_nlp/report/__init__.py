"""Rendering: leaderboards from records alone (no plugin code, no models)."""
