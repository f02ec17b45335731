"""Plain fine-tuning: the reference every robust recipe is compared against."""

from robustbench_nlp.recipes.base import Recipe


class Baseline(Recipe):
    """Standard fine-tuning with cross-entropy (AdamW, linear warmup, dynamic padding)."""
