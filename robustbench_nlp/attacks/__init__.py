"""Attack suites: how a trained classifier is evaluated (clean, embedding PGD/FGSM, word attacks,
challenge sets)."""

from robustbench_nlp.attacks.base import Attack, AttackContext, AttackResult, Column

__all__ = ["Attack", "AttackContext", "AttackResult", "Column"]
