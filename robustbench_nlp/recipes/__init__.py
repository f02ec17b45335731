"""Training recipes: how a classifier is trained (baseline fine-tuning, SCAL, USCAL, PromptBERT).

``Recipe`` and ``TrainContext`` are imported on first use: the package's registry
(``recipes.registry``) must load without torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Recipe", "TrainContext"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'robustbench_nlp.recipes' has no attribute {name!r}")
    from robustbench_nlp.recipes import base

    return getattr(base, name)
