"""The task registry and the built-in tasks, each listed by its registration record.

A record (``PluginInfo``) names the class lazily (``module:Class``) and carries its docstring's
first line and its parameters, so ``robustbench-nlp list`` and suite checks import no task
module; ``tests/test_registry.py`` checks every record against its class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from robustbench_nlp.core.registry import PluginInfo, Registry, extend, param

if TYPE_CHECKING:
    from robustbench_nlp.tasks.base import Task

tasks: Registry[Task] = Registry("task", "robustbench_nlp.tasks.base:Task")

#: The fields of ``tasks.base.Task``.
TASK_PARAMS = (
    param("train_size", "int | None", None, "Random training subset (all if null).", gt=0),
    param("eval_size", "int | None", None, "Random evaluation subset (all if null).", gt=0),
    param("subset_seed", "int", 0, "Seed of the subsets; fixed so recipes share data."),
)

BUILTIN_TASKS = {
    "sst2": PluginInfo(
        "robustbench_nlp.tasks.sentiment:SST2",
        "GLUE SST-2 binary sentiment (train / dev) from <data>/sst2 or the hub.",
        TASK_PARAMS,
    ),
    "mr": PluginInfo(
        "robustbench_nlp.tasks.sentiment:MR",
        "Movie Review polarity (Pang & Lee), split 90/10 with a fixed seed; <data>/mr or the hub.",
        extend(
            TASK_PARAMS,
            param("eval_fraction", "float", 0.1, "Share held out for evaluation.", gt=0, lt=1),
        ),
    ),
    "embedded": PluginInfo(
        "robustbench_nlp.tasks.sentiment:EmbeddedSentiment",
        "400 hand-written movie-review sentences shipped in the package (320 train / 80 eval).",
        TASK_PARAMS,
    ),
    "snli_sick": PluginInfo(
        "robustbench_nlp.tasks.nli:SNLISICK",
        "Offline NLI: train on SNLI validation + SICK train, evaluate on SNLI test (or SICK test).",
        extend(TASK_PARAMS, param("eval_split", "Literal['snli_test', 'sick_test']", "snli_test")),
    ),
    "sick": PluginInfo(
        "robustbench_nlp.tasks.nli:SICK",
        "SICK entailment (Marelli et al. 2014): train / test (or dev) from <data>/sick or the hub.",
        extend(TASK_PARAMS, param("eval_split", "Literal['test', 'dev']", "test")),
    ),
    "snli": PluginInfo(
        "robustbench_nlp.tasks.nli:SNLI",
        "SNLI 1.0 from the hub (train / test); offline it trains on <data>/snli validation.",
        extend(TASK_PARAMS, param("eval_split", "Literal['test', 'validation']", "test")),
    ),
    "mnli": PluginInfo(
        "robustbench_nlp.tasks.nli:MNLI",
        "MultiNLI from the hub (train / validation_matched or _mismatched) or <data>/mnli TSVs.",
        extend(
            TASK_PARAMS,
            param(
                "eval_split",
                "Literal['validation_matched', 'validation_mismatched']",
                "validation_matched",
            ),
        ),
    ),
}
for _name, _info in BUILTIN_TASKS.items():
    tasks.add(_name, _info)
