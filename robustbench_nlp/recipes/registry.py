"""The recipe registry and the built-in recipes, each listed by its registration record.

A record (``PluginInfo``) names the class lazily (``module:Class``) and carries its docstring's
first line and its parameters, so ``robustbench-nlp list`` and suite checks import no recipe
module (they import torch); ``tests/test_registry.py`` checks every record against its class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from robustbench_nlp.core.registry import REQUIRED, PluginInfo, Registry, extend, param

if TYPE_CHECKING:
    from robustbench_nlp.recipes.base import RecipeBase

recipes: Registry[RecipeBase] = Registry("recipe", "robustbench_nlp.recipes.base:RecipeBase")

#: The fields of ``recipes.base.Recipe``.
RECIPE_PARAMS = (
    param("epochs", "int", 1, ge=1),
    param("max_steps", "int | None", None, "Stop after this many steps.", gt=0),
    param("batch_size", "int", 32, ge=2),
    param("lr", "float", 5e-05, gt=0),
    param("warmup_ratio", "float", 0.1, ge=0, lt=1),
    param("weight_decay", "float", 0.01, ge=0),
    param("max_length", "int", 64, ge=8),
    param("pooling", "Literal['cls', 'mean']", "mean"),
    param("dropout", "float", 0.1, ge=0, lt=1),
)

#: The fields of ``recipes.unsupervised.UnsupervisedRecipe``.
UNSUPERVISED_PARAMS = extend(
    RECIPE_PARAMS,
    param("temperature", "float", 0.05, "InfoNCE temperature tau.", gt=0),
    param("unsup_epochs", "int", 1, "Epochs over the unlabelled sentences.", ge=1),
    param("unsup_max_steps", "int | None", None, "Stop phase 1 after N steps.", gt=0),
    param("unsup_batch_size", "int", 64, "Sentences per contrastive batch.", ge=2),
    param("unsup_lr", "float", 3e-05, gt=0),
    param("unsup_warmup_ratio", "float", 0.0, ge=0, lt=1),
    param(
        "head",
        "Literal['finetune', 'linear', 'none']",
        "finetune",
        "Phase 2: baseline fine-tuning, linear probe, or no head.",
    ),
)

#: SAFER's perturbation sets (``resources.perturbation_sets``), shared by ``safer`` and ``certify``.
SIMILARITY_THRESHOLD_PARAM = param(
    "similarity_threshold",
    "float",
    0.8,
    "Cosine of a synonym (edge of the synonym graph).",
    gt=-1,
    le=1,
)
SET_SIZE_PARAM = param("set_size", "int", 100, "Largest perturbation set K per word.", ge=1)

_EPS = param("eps", "float", 0.3, "L2 radius of the perturbation per example.", ge=0)

BUILTIN_RECIPES = {
    "baseline": PluginInfo(
        "robustbench_nlp.recipes.baseline:Baseline",
        "Standard fine-tuning with cross-entropy (AdamW, linear warmup, dynamic padding).",
        RECIPE_PARAMS,
    ),
    "scal": PluginInfo(
        "robustbench_nlp.recipes.scal:SCAL",
        "Fine-tuning with CE on clean and eps-perturbed embeddings plus clean/perturbed InfoNCE.",
        extend(
            RECIPE_PARAMS,
            param("eps", "float", 0.3, "L2 radius of the perturbation (see norm_scope).", ge=0),
            param(
                "norm_scope",
                "Literal['batch', 'example']",
                "batch",
                "Normalise over the batch's embedding matrix, or per example.",
            ),
            param("lam", "float", 1.0, "Weight lambda of the InfoNCE term.", ge=0),
            param("temperature", "float", 0.05, "InfoNCE temperature tau.", gt=0),
        ),
    ),
    "freelb": PluginInfo(
        "robustbench_nlp.recipes.freelb:FreeLB",
        "FreeLB: K ascent steps on embedding noise, parameter gradients accumulated over all K.",
        extend(
            RECIPE_PARAMS,
            param("adv_steps", "int", 3, "Ascent steps K (forward/backward passes/batch).", ge=1),
            param("adv_lr", "float", 0.1, "Ascent step size (normalised gradient).", gt=0),
            param("adv_init_mag", "float", 0.1, "Random start magnitude (0: start at 0).", ge=0),
            param("adv_max_norm", "float", 0.0, "Projection radius (0: unbounded).", ge=0),
            param("norm", "Literal['l2', 'linf']", "l2", "Norm of steps and projection."),
        ),
    ),
    "a2t": PluginInfo(
        "robustbench_nlp.recipes.a2t:A2T",
        "A2T (Yoo & Qi 2021): clean epochs, then CE on clean plus A2T adversarial examples.",
        extend(
            RECIPE_PARAMS,
            param("epochs", "int", 4, "All epochs, the clean ones included.", ge=1),
            param("clean_epochs", "int", 1, "Plain CE epochs before adversarial training.", ge=0),
            param(
                "attack_fraction",
                "float",
                0.2,
                "Share of the training set attacked per generation (ceil).",
                gt=0,
                le=1,
            ),
            param(
                "until_successful",
                "bool",
                False,
                "Attack until that many succeed (TextAttack's count), not that many.",
            ),
            param(
                "attack_epoch_interval",
                "int",
                1,
                "Generate every N adversarial epochs (clean CE in between).",
                ge=1,
            ),
            param("adv_weight", "float", 1.0, "Weight alpha of the adversarial CE.", ge=0),
            param("max_candidates", "int", 20, "Nearest neighbours tried per word.", ge=1),
            param(
                "similarity_threshold",
                "float | None",
                None,
                "MiniLM cosine; default: SBERT's 0.9 mapped on STS-B dev.",
            ),
            param(
                "query_budget",
                "int | None",
                200,
                "Most model queries per attacked example (A2T's 200).",
                gt=0,
            ),
            param("workers", "int", 1, "Processes the attacked examples are sharded across.", ge=1),
            param("attack_batch_size", "int", 32, "Model queries per attack forward pass.", ge=1),
        ),
    ),
    "pgd_at": PluginInfo(
        "robustbench_nlp.recipes.pgd_at:PGDAT",
        "Madry's PGD adversarial training: CE on the embedding-PGD batch (+ optional clean CE).",
        extend(
            RECIPE_PARAMS,
            param("eps", "float", 0.25, "Radius of the ball per example (see norm).", ge=0),
            param("steps", "int", 5, "PGD steps of the inner maximisation.", ge=1),
            param("step_size", "float | None", None, "Default eps/4 (eps for 1 step).", gt=0),
            param("norm", "Literal['l2', 'linf']", "l2"),
            param("random_start", "bool", True, "Start at a random point of the ball."),
            param("clean_weight", "float", 0.0, "Weight of the clean CE (0: pure Madry).", ge=0),
        ),
    ),
    "safer": PluginInfo(
        "robustbench_nlp.recipes.safer:SAFER",
        "SAFER: fine-tuning on random synonym substitutions (certify with the same sets).",
        extend(
            RECIPE_PARAMS,
            SIMILARITY_THRESHOLD_PARAM,
            SET_SIZE_PARAM,
        ),
    ),
    "uscal": PluginInfo(
        "robustbench_nlp.recipes.uscal:USCAL",
        "SimCSE with an adversarial third view (eps-perturbed embeddings), then a head.",
        extend(
            UNSUPERVISED_PARAMS,
            _EPS,
            param("alpha", "float", 0.5, "Weight of the two adversarial terms.", ge=0, lt=1),
            param(
                "projection",
                "bool | None",
                None,
                "Phase-1 MLP over the representation (null: on for cls pooling).",
            ),
        ),
    ),
    "promptbert": PluginInfo(
        "robustbench_nlp.recipes.promptbert:PromptBERT",
        "[MASK]-in-template representation, contrastive between two templates, then a head.",
        extend(
            UNSUPERVISED_PARAMS,
            param("pooling", "Literal['mask']", "mask"),
            param("unsup_lr", "float", 1e-05, gt=0),
            param(
                "template",
                "str",
                'This sentence : "[X]" means [MASK] .',
                "Representation template ([X], [MASK]).",
            ),
            param(
                "positive_template",
                "str",
                'This sentence of "[X]" means [MASK] .',
                "Template of the positive.",
            ),
            param(
                "pair_template",
                "str",
                'This sentence : "[X]" and this sentence : "[Y]" mean [MASK] .',
                "Template for sentence pairs.",
            ),
            param("denoise", "bool", True, "Subtract the template-only [MASK] state."),
            param("projection", "bool", True, "SimCSE's MLP over the representation, phase 1."),
        ),
    ),
    "pretrained": PluginInfo(
        "robustbench_nlp.recipes.pretrained:Pretrained",
        "The backbone as downloaded, with a random head (no training).",
        extend(
            RECIPE_PARAMS,
            param("pooling", "Literal['cls', 'mean', 'mask']", "mean"),
            param("template", "str | None", None, "Prompt template ([X], [MASK]) for 'mask'."),
            param("denoise", "bool", False, "PromptBERT template denoising (pooling 'mask')."),
        ),
    ),
    "hf_classifier": PluginInfo(
        "robustbench_nlp.recipes.hf_classifier:HFClassifierRecipe",
        "A Hugging Face sequence classifier (folder or hub id) evaluated as it is (no training).",
        (
            param(
                "model",
                "str",
                REQUIRED,
                "A save_pretrained folder of an AutoModelForSequenceClassification with its "
                "tokenizer, or a hub id.",
            ),
            param(
                "label_map",
                "dict[str, int | str] | None",
                None,
                "Task label -> model output index or label name (default: by the model's "
                "id2label names).",
            ),
            param("max_length", "int", 128, "Tokens per example (truncation).", ge=8),
            param("trust_remote_code", "bool", False, "Run the model's own code (noted)."),
        ),
    ),
}
for _name, _info in BUILTIN_RECIPES.items():
    recipes.add(_name, _info)
