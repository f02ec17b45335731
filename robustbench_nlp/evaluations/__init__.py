"""Evaluations: a trained model scored on a fixed set (clean, another task, ANLI, HANS, STS)."""
