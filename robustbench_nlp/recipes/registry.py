"""The recipe registry and the built-in recipes, listed lazily by ``module:Class``."""

from __future__ import annotations

from robustbench_nlp.core.registry import Registry
from robustbench_nlp.recipes.base import Recipe

recipes: Registry[Recipe] = Registry("recipe", Recipe)

BUILTIN_RECIPES = {
    "baseline": "robustbench_nlp.recipes.baseline:Baseline",
    "scal": "robustbench_nlp.recipes.scal:SCAL",
    "uscal": "robustbench_nlp.recipes.uscal:USCAL",
    "promptbert": "robustbench_nlp.recipes.promptbert:PromptBERT",
    "pretrained": "robustbench_nlp.recipes.pretrained:Pretrained",
}
for _name, _target in BUILTIN_RECIPES.items():
    recipes.add(_name, _target)
