"""Training recipes: how a classifier is trained (baseline fine-tuning, SCAL, USCAL, PromptBERT)."""

from robustbench_nlp.recipes.base import Recipe, TrainContext

__all__ = ["Recipe", "TrainContext"]
