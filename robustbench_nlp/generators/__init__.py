"""Generators of evaluation data (the HANS-style set): pure Python, seeded, no model."""
