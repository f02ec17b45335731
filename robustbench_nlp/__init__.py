"""robustbench-nlp: train robustness recipes, attack them, render leaderboards - offline.

Third-party plugins register with the decorators re-exported here::

    from robustbench_nlp import register_attack, Attack
"""

from robustbench_nlp.attacks.base import Attack, AttackContext, AttackResult, Column
from robustbench_nlp.errors import UserError
from robustbench_nlp.plugins import register_attack, register_recipe, register_task
from robustbench_nlp.recipes.base import Recipe, TrainContext
from robustbench_nlp.tasks.base import Example, Task, TaskData

__all__ = [
    "Attack",
    "AttackContext",
    "AttackResult",
    "Column",
    "Example",
    "Recipe",
    "Task",
    "TaskData",
    "TrainContext",
    "UserError",
    "register_attack",
    "register_recipe",
    "register_task",
]
