"""Challenge sets: diagnostic NLI evaluation data (HANS and a HANS-style generator)."""
