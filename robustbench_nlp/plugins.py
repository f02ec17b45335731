"""The three registries and the built-in plugins, listed lazily by ``module:Class``.

Adding a built-in is one file plus one line here; a third-party plugin uses the decorators
(``@register_attack("name")``) from a file given to ``--include`` or an entry point.
"""

from __future__ import annotations

from robustbench_nlp.attacks.base import Attack
from robustbench_nlp.recipes.base import Recipe
from robustbench_nlp.registry import Registry, load_entry_points
from robustbench_nlp.tasks.base import Task

recipes: Registry[Recipe] = Registry("recipe", Recipe)
attacks: Registry[Attack] = Registry("attack", Attack)
tasks: Registry[Task] = Registry("task", Task)

REGISTRIES = {"recipes": recipes, "attacks": attacks, "tasks": tasks}

register_recipe = recipes.register
register_attack = attacks.register
register_task = tasks.register

BUILTINS: dict[Registry, dict[str, str]] = {
    recipes: {
        "baseline": "robustbench_nlp.recipes.baseline:Baseline",
        "scal": "robustbench_nlp.recipes.scal:SCAL",
        "uscal": "robustbench_nlp.recipes.uscal:USCAL",
        "promptbert": "robustbench_nlp.recipes.promptbert:PromptBERT",
        "pretrained": "robustbench_nlp.recipes.pretrained:Pretrained",
    },
    attacks: {
        "clean": "robustbench_nlp.attacks.base:Clean",
        "pgd": "robustbench_nlp.attacks.embedding_pgd:EmbeddingPGD",
        "fgsm": "robustbench_nlp.attacks.embedding_pgd:FGSM",
        "deepwordbug": "robustbench_nlp.attacks.word:DeepWordBug",
        "pwws": "robustbench_nlp.attacks.word:PWWS",
        "textfooler": "robustbench_nlp.attacks.word:TextFooler",
        "bae": "robustbench_nlp.attacks.word:BAE",
        "bert_attack": "robustbench_nlp.attacks.word:BERTAttack",
        "textattack": "robustbench_nlp.attacks.word:TextAttackRecipe",
        "anli": "robustbench_nlp.attacks.anli:ANLI",
        "hans": "robustbench_nlp.attacks.hans:HANS",
        "eval_task": "robustbench_nlp.attacks.eval_task:EvalTask",
        "sts": "robustbench_nlp.attacks.sts:STS",
    },
    tasks: {
        "sst2": "robustbench_nlp.tasks.sentiment:SST2",
        "mr": "robustbench_nlp.tasks.sentiment:MR",
        "embedded": "robustbench_nlp.tasks.sentiment:EmbeddedSentiment",
        "snli_sick": "robustbench_nlp.tasks.nli:SNLISICK",
        "sick": "robustbench_nlp.tasks.nli:SICK",
        "snli": "robustbench_nlp.tasks.nli:SNLI",
        "mnli": "robustbench_nlp.tasks.nli:MNLI",
    },
}

for _registry, _entries in BUILTINS.items():
    for _name, _target in _entries.items():
        _registry.add(_name, _target)

_entry_points_loaded = False


def load_plugins() -> None:
    """Load third-party plugins from entry points (once)."""
    global _entry_points_loaded
    if not _entry_points_loaded:
        _entry_points_loaded = True
        load_entry_points()
