"""robustbench-nlp: train robustness recipes, attack them, render leaderboards - offline.

Third-party plugins register with the decorators re-exported here::

    from robustbench_nlp import register_attack, Attack, Metric

The names are imported on first use, so ``import robustbench_nlp`` (and the command line's
``--help``) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Attack": "robustbench_nlp.attacks.base",
    "Evaluation": "robustbench_nlp.evaluations.base",
    "Example": "robustbench_nlp.tasks.base",
    "MeasureContext": "robustbench_nlp.measure.base",
    "Metric": "robustbench_nlp.core.metrics",
    "Outcomes": "robustbench_nlp.measure.base",
    "Recipe": "robustbench_nlp.recipes.base",
    "Task": "robustbench_nlp.tasks.base",
    "TaskData": "robustbench_nlp.tasks.base",
    "TrainContext": "robustbench_nlp.recipes.base",
    "UserError": "robustbench_nlp.core.errors",
    "register_attack": "robustbench_nlp.run.plugins",
    "register_evaluation": "robustbench_nlp.run.plugins",
    "register_recipe": "robustbench_nlp.run.plugins",
    "register_task": "robustbench_nlp.run.plugins",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'robustbench_nlp' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
