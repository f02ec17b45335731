"""The task registry and the built-in tasks, listed lazily by ``module:Class``."""

from __future__ import annotations

from robustbench_nlp.core.registry import Registry
from robustbench_nlp.tasks.base import Task

tasks: Registry[Task] = Registry("task", Task)

BUILTIN_TASKS = {
    "sst2": "robustbench_nlp.tasks.sentiment:SST2",
    "mr": "robustbench_nlp.tasks.sentiment:MR",
    "embedded": "robustbench_nlp.tasks.sentiment:EmbeddedSentiment",
    "snli_sick": "robustbench_nlp.tasks.nli:SNLISICK",
    "sick": "robustbench_nlp.tasks.nli:SICK",
    "snli": "robustbench_nlp.tasks.nli:SNLI",
    "mnli": "robustbench_nlp.tasks.nli:MNLI",
}
for _name, _target in BUILTIN_TASKS.items():
    tasks.add(_name, _target)
