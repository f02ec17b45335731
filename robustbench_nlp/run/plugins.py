"""The three registries a suite draws from, and the built-in attacks and evaluations.

Tasks and recipes keep their registries in their own layers (``tasks/registry.py``,
``recipes/registry.py``); the suite's ``attacks:`` list holds both attacks (perturbations) and
evaluations (fixed sets), so their one registry lives here, above both. Adding a built-in is one
file plus one line; a third-party plugin uses the decorators (``@register_attack("name")``)
from a file given to ``--include`` or an entry point.
"""

from __future__ import annotations

from robustbench_nlp.core.registry import Registry, load_entry_points
from robustbench_nlp.measure.base import Measure
from robustbench_nlp.recipes.registry import recipes
from robustbench_nlp.tasks.registry import tasks

attacks: Registry[Measure] = Registry("attack", Measure)

REGISTRIES = {"recipes": recipes, "attacks": attacks, "tasks": tasks}

register_recipe = recipes.register
register_attack = attacks.register
register_evaluation = attacks.register
register_task = tasks.register

BUILTIN_ATTACKS = {
    "clean": "robustbench_nlp.evaluations.clean:Clean",
    "pgd": "robustbench_nlp.attacks.embedding_pgd:EmbeddingPGD",
    "fgsm": "robustbench_nlp.attacks.embedding_pgd:FGSM",
    "deepwordbug": "robustbench_nlp.attacks.textattack.recipes:DeepWordBug",
    "pwws": "robustbench_nlp.attacks.textattack.recipes:PWWS",
    "textfooler": "robustbench_nlp.attacks.textattack.recipes:TextFooler",
    "bae": "robustbench_nlp.attacks.textattack.recipes:BAE",
    "bert_attack": "robustbench_nlp.attacks.textattack.recipes:BERTAttack",
    "textattack": "robustbench_nlp.attacks.textattack.recipes:TextAttackRecipe",
    "anli": "robustbench_nlp.evaluations.anli:ANLI",
    "hans": "robustbench_nlp.evaluations.hans:HANS",
    "eval_task": "robustbench_nlp.evaluations.eval_task:EvalTask",
    "sts": "robustbench_nlp.evaluations.sts:STS",
}
for _name, _target in BUILTIN_ATTACKS.items():
    attacks.add(_name, _target)

_entry_points_loaded = False


def load_plugins() -> None:
    """Load third-party plugins from entry points (once)."""
    global _entry_points_loaded
    if not _entry_points_loaded:
        _entry_points_loaded = True
        load_entry_points()
