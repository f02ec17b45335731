"""The three registries a suite draws from, and the built-in attacks and evaluations.

Tasks and recipes keep their registries in their own layers (``tasks/registry.py``,
``recipes/registry.py``); the suite's ``attacks:`` list holds both attacks (perturbations) and
evaluations (fixed sets), so their one registry lives here, above both. Each built-in is listed
by its registration record (``PluginInfo``: lazy ``module:Class``, description, parameters), so
listing plugins and checking a suite import no plugin module; ``tests/test_registry.py`` checks
every record against its class. Adding a built-in is one file plus one record; a third-party
plugin uses the decorators (``@register_attack("name")``) from a file given to ``--include`` or
an entry point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from robustbench_nlp.core.registry import (
    REQUIRED,
    Param,
    PluginInfo,
    Registry,
    extend,
    load_entry_points,
    param,
)
from robustbench_nlp.recipes.registry import SET_SIZE_PARAM, SIMILARITY_THRESHOLD_PARAM, recipes
from robustbench_nlp.tasks.registry import tasks

if TYPE_CHECKING:
    from robustbench_nlp.measure.base import Measure

attacks: Registry[Measure] = Registry("attack", "robustbench_nlp.measure.base:Measure")

REGISTRIES = {"recipes": recipes, "attacks": attacks, "tasks": tasks}

register_recipe = recipes.register
register_attack = attacks.register
register_evaluation = attacks.register
register_task = tasks.register

#: The fields of ``measure.base.Measure``.
MEASURE_PARAMS = (
    param(
        "max_examples",
        "int | None",
        None,
        "A fixed random subset of N examples (see select_examples).",
        gt=0,
    ),
    param("batch_size", "int", 32, ge=1),
)

#: The fields of ``attacks.embedding_pgd.EmbeddingPGD``.
PGD_PARAMS = extend(
    MEASURE_PARAMS,
    param("norm", "Literal['l2', 'linf']", "l2"),
    param("eps", "list[float]", [0.0, 0.5, 1.0, 2.0], min_length=1),
    param("step_size", "float | None", None, "Default eps/4 (eps for 1 step).", gt=0),
    param("steps", "int", 10, ge=1),
    param("random_start", "bool", True),
    param(
        "restarts",
        "int",
        1,
        "Random restarts; an example is robust only if every one fails.",
        ge=1,
    ),
    param(
        "ensemble_eps",
        "float | None",
        None,
        "The eps at which this attack joins the worst-case ensemble (one of eps; default: the "
        "smallest eps above 0).",
        ge=0,
    ),
    param(
        "strength_check",
        "bool",
        False,
        "Also attack at the ensemble eps with twice the steps and two more restarts, to reveal "
        "an evaluation the standard attack is too weak for (gradient masking).",
    ),
)

#: The fields of ``attacks.textattack.recipes.WordAttack``.
WORD_ATTACK_PARAMS = extend(
    MEASURE_PARAMS,
    param("batch_size", "int", 64, "Model queries per forward pass.", ge=1),
    param("workers", "int", 1, "Processes the examples are sharded across.", ge=1),
    param("query_budget", "int | None", None, "Most model queries per example.", gt=0),
)

_MLM = param(
    "mlm",
    "str | None",
    None,
    "Masked LM saved with its head: a folder, a hub id in the local cache, or 'prepared' "
    "(MiniLM's head trained by `robustbench-nlp resources prepare --mlm`).",
)


def _similarity(use_threshold: str) -> Param:
    return param(
        "similarity_threshold",
        "float | None",
        None,
        f"MiniLM cosine; default: USE's {use_threshold} mapped on STS-B dev.",
    )


_WORD = "robustbench_nlp.attacks.textattack.recipes"

BUILTIN_ATTACKS = {
    "clean": PluginInfo(
        "robustbench_nlp.evaluations.clean:Clean",
        "Clean accuracy on the task's evaluation split (no attack).",
        MEASURE_PARAMS,
    ),
    "pgd": PluginInfo(
        "robustbench_nlp.attacks.embedding_pgd:EmbeddingPGD",
        "PGD in word-embedding space (L2 or Linf) over an eps sweep: clean and robust accuracy.",
        PGD_PARAMS,
    ),
    "fgsm": PluginInfo(
        "robustbench_nlp.attacks.embedding_pgd:FGSM",
        "FGSM in word-embedding space: one signed/normalised gradient step of size eps.",
        extend(
            PGD_PARAMS, param("steps", "int", 1, ge=1, le=1), param("random_start", "bool", False)
        ),
    ),
    "deepwordbug": PluginInfo(
        f"{_WORD}:DeepWordBug",
        "DeepWordBug (Gao et al. 2018): character edits on the most important words.",
        extend(
            WORD_ATTACK_PARAMS,
            param(
                "use_all_transformations",
                "bool",
                True,
                "Swap, substitute, delete and insert characters (else substitute only).",
            ),
            param("max_edits", "int", 30, "Levenshtein budget over the whole text.", ge=1),
        ),
    ),
    "pwws": PluginInfo(
        f"{_WORD}:PWWS",
        "PWWS (Ren et al. 2019): WordNet synonyms ranked by probability-weighted word saliency.",
        WORD_ATTACK_PARAMS,
    ),
    "textfooler": PluginInfo(
        f"{_WORD}:TextFooler",
        "TextFooler (Jin et al. 2020): counter-fitted synonyms, POS and sentence-similarity "
        "checks.",
        extend(
            WORD_ATTACK_PARAMS,
            param("max_candidates", "int", 50, "Nearest neighbours tried per word.", ge=1),
            param("min_cos_sim", "float", 0.5, "Least word-vector cosine of a swap.", gt=-1, le=1),
            _similarity("0.8408"),
        ),
    ),
    "a2t": PluginInfo(
        f"{_WORD}:A2TAttack",
        "A2T (Yoo & Qi 2021): gradient-ranked counter-fitted swaps, cheap checks, for training.",
        extend(
            WORD_ATTACK_PARAMS,
            param("max_candidates", "int", 20, "Nearest neighbours tried per word.", ge=1),
            param("min_cos_sim", "float", 0.8, "Least word-vector cosine of a swap.", gt=-1, le=1),
            param(
                "similarity_threshold",
                "float | None",
                None,
                "MiniLM cosine; default: SBERT's 0.9 mapped on STS-B dev.",
            ),
        ),
    ),
    "bae": PluginInfo(
        f"{_WORD}:BAE",
        "BAE-R (Garg & Ramakrishnan 2020): masked-LM replacements; needs ``mlm``.",
        extend(
            WORD_ATTACK_PARAMS,
            _MLM,
            param("max_candidates", "int", 50, ge=1),
            _similarity("0.9363"),
        ),
    ),
    "bert_attack": PluginInfo(
        f"{_WORD}:BERTAttack",
        "BERT-Attack (Li et al. 2020): sub-word masked-LM replacements; needs ``mlm``.",
        extend(
            WORD_ATTACK_PARAMS,
            _MLM,
            param("max_candidates", "int", 48, "K: masked-LM candidates per sub-word.", ge=1),
            param("max_percent", "float", 0.4, "Most words perturbed (fraction).", gt=0, le=1),
            _similarity("0.2"),
        ),
    ),
    "textattack": PluginInfo(
        f"{_WORD}:TextAttackRecipe",
        "Any TextAttack recipe by name (``recipe``), with the offline substitutes patched in.",
        extend(
            WORD_ATTACK_PARAMS,
            param(
                "recipe", "str", REQUIRED, "TextAttack recipe: class, module or command-line name."
            ),
            param("mlm", "str | None", None, "Masked LM for recipes that need one."),
        ),
    ),
    "anli": PluginInfo(
        "robustbench_nlp.evaluations.anli:ANLI",
        "Adversarial NLI rounds R1-R3 (dev by default): accuracy per round and overall.",
        extend(
            MEASURE_PARAMS,
            param("rounds", "list[Literal[1, 2, 3]]", [1, 2, 3], min_length=1),
            param("split", "Literal['dev', 'test']", "dev"),
        ),
    ),
    "advglue": PluginInfo(
        "robustbench_nlp.evaluations.advglue:AdvGLUE",
        "AdvGLUE dev (Wang et al. 2021): accuracy per subset the task decides (SST-2; MNLI-m/-mm).",
        MEASURE_PARAMS,
    ),
    "transfer": PluginInfo(
        "robustbench_nlp.evaluations.transfer:Transfer",
        "Transfer matrix: accuracy on the adversarial examples a word attack found per recipe.",
        extend(
            MEASURE_PARAMS,
            param(
                "attack",
                "str",
                REQUIRED,
                "Label of the suite's word attack whose examples to replay.",
            ),
        ),
    ),
    "certify": PluginInfo(
        "robustbench_nlp.evaluations.certify:Certify",
        "Certified robust accuracy under synonym substitution (SAFER's smoothing certificate).",
        extend(
            MEASURE_PARAMS,
            param("samples", "int", 64, "Random substitutions N per example.", ge=1),
            param("alpha", "float", 0.05, "1 - confidence of each certificate.", gt=0, lt=0.5),
            SIMILARITY_THRESHOLD_PARAM,
            SET_SIZE_PARAM,
            param(
                "max_perturbed",
                "int | None",
                None,
                "Certify against at most R substituted words (null: any number).",
                gt=0,
            ),
            param("batch_size", "int", 8, "Examples per batch (x samples texts).", ge=1),
        ),
    ),
    "hans": PluginInfo(
        "robustbench_nlp.evaluations.hans:HANS",
        "HANS heuristics (McCoy et al. 2019): official file or a generated HANS-style set.",
        extend(
            MEASURE_PARAMS,
            param(
                "path",
                "str | None",
                None,
                "A HANS-format file; a relative path is also looked up under --data-dir. "
                "Unset: generate a HANS-style set.",
            ),
            param("n_per_subcase", "int", 100, "Generated examples per subcase (x30).", ge=1),
            param("generator_seed", "int", 0, "Seed of the generated set."),
        ),
    ),
    "eval_task": PluginInfo(
        "robustbench_nlp.evaluations.eval_task:EvalTask",
        "Clean accuracy on another task's evaluation split (e.g. SICK test for an SNLI model).",
        extend(
            MEASURE_PARAMS,
            param("task", "str", REQUIRED, "A registered task (see `robustbench-nlp list tasks`)."),
            param("task_params", "dict[str, Any]", {}, "That task's params."),
        ),
    ),
    "sts": PluginInfo(
        "robustbench_nlp.evaluations.sts:STS",
        'Spearman x 100 of cosine similarity on STS12-16 ("all") and STS-B test, and their mean.',
        extend(
            MEASURE_PARAMS,
            param("batch_size", "int", 64, ge=1),
            param(
                "sets",
                "list[Literal['STS12', 'STS13', 'STS14', 'STS15', 'STS16', 'STS-B']]",
                ["STS12", "STS13", "STS14", "STS15", "STS16", "STS-B"],
                min_length=1,
            ),
            param("max_length", "int", 128, "Tokens per sentence at evaluation.", ge=8),
        ),
    ),
}
for _name, _info in BUILTIN_ATTACKS.items():
    attacks.add(_name, _info)

_entry_points_loaded = False


def load_plugins() -> None:
    """Load third-party plugins from entry points (once)."""
    global _entry_points_loaded
    if not _entry_points_loaded:
        _entry_points_loaded = True
        load_entry_points()
