"""Training and attack speed against their floors: the stock ``transformers`` Trainer, the
reference step of each contrastive recipe, and PGD against padding-free passes.

Run with ``pytest tests/benchmarks/test_training_speed.py --benchmark-only -s``. Torch uses one
thread (ratios then depend little on what else runs on the machine). Ratios are printed, stored
in ``extra_info`` and asserted.

- ``test_harness_against_the_trainer`` (MiniLM, SST-2 from ``../shared/data``; skipped without
  it): the same classifier (encoder, mean pooling, dropout, linear head; the same initial
  weights) fine-tuned on the same ``TRAIN_SIZE`` examples for the same optimiser steps, batch
  size, learning rate, warmup, weight decay and clipping, once with the ``baseline`` recipe
  (``Recipe.fit``) and once with ``transformers.Trainer`` (tokenised with ``Dataset.map``,
  dynamic padding by ``DataCollatorWithPadding``, its default random batches). Timed: from the
  examples to the trained model, tokenisation included, for both. Both models are scored on the
  whole SST-2 dev set by the same code. Goals: harness <= 0.6x the Trainer's wall time, dev
  accuracies within 1 point.
- ``test_recipe_step_cost_ratios`` (tiny and MiniLM; formerly ``test_recipe_steps.py``): one
  full training step (loss, backward, clipping, AdamW) of every recipe on the same 32
  SST-2-like sentences of the embedded set, interleaved, inside a ``token_cache`` as
  ``Recipe.fit`` runs them, medians over the rounds: SCAL against the baseline step, USCAL and
  PromptBERT (their unsupervised steps) against a plain SimCSE step (two dropout views in one
  pass, InfoNCE). Issue 16 recorded 1.94, 1.70 and 1.76 on MiniLM before this file; asserted:
  within 2.2x, as before.
- ``test_pgd_cost_against_padding_free_passes`` (tiny and MiniLM): a whole ``pgd`` cell
  (``Measure.run``: ordering, tokenisation, clean pass, the PGD steps, the final pass,
  outcomes) on ``PGD_EXAMPLES`` SST-2 dev examples (those of suites/sst2.yaml's PGD; the
  embedded set without ``../shared/data``), against the same passes (the clean and
  final forwards, ``steps`` forward+backward to the embeddings) on exactly the tokens attacked:
  per PGD batch, a batch of as many rows and as many tokens without padding. Goal <= 1.2
  (MiniLM; tiny, whose passes are mostly Python dispatch, <= 1.5).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robustbench_nlp.measure.base import MeasureContext, select_examples
from robustbench_nlp.model.backbones import resolve_backbone
from robustbench_nlp.model.classifier import Classifier, token_cache
from robustbench_nlp.recipes.base import Recipe, TrainContext
from robustbench_nlp.recipes.contrastive import info_nce, projection_head
from robustbench_nlp.recipes.unsupervised import doubled
from robustbench_nlp.run.plugins import attacks, recipes, tasks
from robustbench_nlp.tasks.base import Example

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

#: Trainer comparison: one epoch of TRAIN_SIZE examples in batches of BATCH_SIZE.
TRAIN_SIZE = 3200
BATCH_SIZE = 32
LR = 5e-5
TRAINER_GOAL = 0.6
ACCURACY_POINTS = 1.0

STEP_TARGETS = {"scal": ("baseline", 2.2), "uscal": ("simcse", 2.2), "promptbert": ("simcse", 2.2)}
STEP_ROUNDS = {"tiny": 30, "minilm": 8}

#: PGD: the ``max_examples`` and ``steps`` of suites/sst2.yaml's PGD, one eps.
PGD_EXAMPLES = 300
PGD_STEPS = 5
PGD_ROUNDS = {"tiny": 5, "minilm": 1}
#: The goal holds for MiniLM; tiny's passes (hidden size 32) are so small that tokenisation and
#: Python dispatch weigh like its matrix work, so it is held to a looser bound.
PGD_GOAL = {"tiny": 1.5, "minilm": 1.2}


@pytest.fixture
def one_thread():
    """One intra-op thread: ratios then depend little on what else runs on the machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def report(capsys, lines: list[str]) -> None:
    with capsys.disabled():
        print("\n" + "\n".join(lines))


# -- harness against the Trainer ----------------------------------------------------------------


class TrainerModel(nn.Module):
    """Our classifier behind the interface the Trainer calls (keyword tensors in, loss out)."""

    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, input_ids, attention_mask, token_type_ids=None, labels=None):
        batch = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": (
                token_type_ids if token_type_ids is not None else torch.zeros_like(input_ids)
            ),
            "perturb_mask": attention_mask.bool(),
        }
        logits = self.classifier(batch)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}


def train_with_trainer(model: Classifier, examples: Sequence[Example], recipe: Recipe, steps: int):
    import datasets
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    tokenizer = model.tokenizer
    dataset = datasets.Dataset.from_dict(
        {"sentence": [e.text for e in examples], "label": [e.label for e in examples]}
    )
    dataset = dataset.map(
        lambda rows: tokenizer(rows["sentence"], truncation=True, max_length=recipe.max_length),
        batched=True,
        remove_columns=["sentence"],
    )
    with tempfile.TemporaryDirectory() as output:
        arguments = TrainingArguments(
            output_dir=output,
            per_device_train_batch_size=recipe.batch_size,
            learning_rate=recipe.lr,
            max_steps=steps,
            warmup_steps=int(recipe.warmup_ratio * steps),  # as Recipe.fit rounds it
            weight_decay=recipe.weight_decay,
            max_grad_norm=1.0,
            lr_scheduler_type="linear",
            seed=0,
            report_to=[],
            save_strategy="no",
            logging_strategy="no",
            eval_strategy="no",
            disable_tqdm=True,
            use_cpu=True,
            dataloader_num_workers=0,
            dataloader_pin_memory=False,
        )
        trainer = Trainer(
            model=TrainerModel(model),
            args=arguments,
            train_dataset=dataset,
            data_collator=DataCollatorWithPadding(tokenizer),
        )
        trainer.train()
    return model.eval()


def accuracy(model: Classifier, examples: Sequence[Example]) -> float:
    predicted = model.predict_proba(list(examples), batch_size=128).argmax(-1).tolist()
    return sum(p == e.label for p, e in zip(predicted, examples, strict=True)) / len(examples)


def test_harness_against_the_trainer(benchmark, capsys, one_thread):
    if not (SHARED_DATA / "sst2").is_dir():
        pytest.skip(f"SST-2 ({SHARED_DATA / 'sst2'}) is not present")
    task = tasks.get("sst2")(train_size=TRAIN_SIZE)
    data = task.load(SHARED_DATA)
    context = TrainContext(task, data, resolve_backbone("minilm"), seed=0)
    recipe = recipes.get("baseline")(batch_size=BATCH_SIZE, lr=LR)
    steps = math.ceil(len(data.train) / BATCH_SIZE)
    results: dict[str, dict[str, float]] = {}

    def train(name: str) -> None:
        model = recipe.build_classifier(context)  # the same initial weights for both
        started = time.perf_counter()
        if name == "harness":
            recipe.fit(model, data.train, recipe.classification_loss, context, "train")
            assert context.logs["train"]["steps"] == steps
        else:
            train_with_trainer(model, data.train, recipe, steps)
        seconds = time.perf_counter() - started
        results[name] = {"seconds": seconds, "accuracy": accuracy(model.eval(), data.eval)}

    benchmark.pedantic(lambda: [train(name) for name in ("harness", "trainer")], rounds=1)

    ratio = results["harness"]["seconds"] / results["trainer"]["seconds"]
    gap = abs(results["harness"]["accuracy"] - results["trainer"]["accuracy"]) * 100
    benchmark.extra_info.update(
        {
            "harness_over_trainer": round(ratio, 3),
            "harness_seconds": round(results["harness"]["seconds"], 2),
            "trainer_seconds": round(results["trainer"]["seconds"], 2),
            "harness_dev_accuracy": round(results["harness"]["accuracy"], 4),
            "trainer_dev_accuracy": round(results["trainer"]["accuracy"], 4),
        }
    )
    report(
        capsys,
        [
            f"minilm, SST-2: {len(data.train)} examples, {steps} steps of {BATCH_SIZE}, lr {LR}",
            f"  harness {results['harness']['seconds']:.1f} s, dev accuracy "
            f"{results['harness']['accuracy']:.2%}",
            f"  Trainer {results['trainer']['seconds']:.1f} s, dev accuracy "
            f"{results['trainer']['accuracy']:.2%}",
            f"  harness / Trainer = {ratio:.2f} (goal <= {TRAINER_GOAL}); accuracy gap "
            f"{gap:.2f} points (goal <= {ACCURACY_POINTS})",
        ],
    )
    assert ratio <= TRAINER_GOAL, f"harness / Trainer = {ratio:.2f}"
    assert gap <= ACCURACY_POINTS, f"dev accuracies {gap:.2f} points apart"


# -- recipe steps against their references ------------------------------------------------------


def simcse_step(model: Classifier, examples: Sequence[Example]):
    """Unsupervised SimCSE: two dropout views in one pass, InfoNCE with in-batch negatives."""
    z1, z2 = model.represent(doubled(model.tokenize(examples))).chunk(2)
    loss = info_nce(z1, z2, 0.05)
    return loss, {"nce": loss.item()}


def training_step(model: Classifier, step, optimizer) -> Callable[[list[Example]], None]:
    """One step as ``Recipe.fit`` takes it (without the scheduler)."""

    def run(examples: list[Example]) -> None:
        loss, _ = step(model, examples)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    return run


def build(recipe: Recipe, context: TrainContext, kind: str, stack: ExitStack) -> Callable:
    model = recipe.build_classifier(context).train()
    if kind == "supervised":
        step = recipe.classification_loss
    elif kind == "simcse":
        step = simcse_step
    else:
        model = recipe.unsupervised_view(model)
        project = stack.enter_context(projection_head(model, recipe.uses_projection()))
        step = recipe.unsupervised_step(model, project)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    return training_step(model, step, optimizer)


@pytest.mark.parametrize("backbone_name", ["tiny", "minilm"])
def test_recipe_step_cost_ratios(benchmark, backbone_name, capsys, one_thread):
    task = tasks.get("embedded")()
    data = task.load(None)
    context = TrainContext(task, data, resolve_backbone(backbone_name), seed=0)
    examples = data.train[:32]
    plan = {
        "baseline": ("baseline", "supervised"),
        "scal": ("scal", "supervised"),
        "simcse": ("baseline", "simcse"),
        "uscal": ("uscal", "unsupervised"),
        "promptbert": ("promptbert", "unsupervised"),
    }
    times: dict[str, list[float]] = {name: [] for name in plan}
    with ExitStack() as stack:
        stack.enter_context(token_cache())  # as in Recipe.fit: tokenised once
        steps = {
            name: build(recipes.get(recipe)(batch_size=32), context, kind, stack)
            for name, (recipe, kind) in plan.items()
        }

        def one_round() -> None:
            for name, run in steps.items():
                started = time.perf_counter()
                run(examples)
                times[name].append(time.perf_counter() - started)

        benchmark.pedantic(one_round, rounds=STEP_ROUNDS[backbone_name], warmup_rounds=1)

    warm = {name: sorted(values[1:]) for name, values in times.items()}  # drop the warmup
    median = {name: values[len(values) // 2] for name, values in warm.items()}
    lines = [
        f"{backbone_name}: median step "
        + ", ".join(f"{name} {seconds * 1e3:.1f} ms" for name, seconds in median.items())
    ]
    failures = []
    for recipe, (reference, target) in STEP_TARGETS.items():
        ratio = median[recipe] / median[reference]
        benchmark.extra_info[f"{recipe}_over_{reference}"] = round(ratio, 3)
        lines.append(f"  {recipe} / {reference} = {ratio:.2f} (target <= {target})")
        if ratio > target:
            failures.append(f"{recipe} / {reference} = {ratio:.2f} > {target}")
    report(capsys, lines)
    assert not failures, "; ".join(failures)


# -- PGD against padding-free passes ------------------------------------------------------------


def padding_free_passes(model: Classifier, batches: Sequence[Sequence[int]], steps: int) -> float:
    """Seconds for PGD's passes on exactly the attacked tokens: for each of PGD's batches (token
    lengths given), a batch of as many rows holding as many tokens and no padding (every row of
    the mean length; the token ids do not matter for the time), and on it a clean forward,
    ``steps`` forward+backward passes to the word embeddings, and a final forward."""
    model.eval()
    inputs = []
    for lengths in batches:
        rows, width = len(lengths), max(1, round(sum(lengths) / len(lengths)))
        ids = torch.randint(1000, 2000, (rows, width))
        ones = torch.ones_like(ids)
        batch = {
            "input_ids": ids,
            "attention_mask": ones,
            "token_type_ids": torch.zeros_like(ids),
            "perturb_mask": ones.bool(),
        }
        inputs.append((batch, torch.randint(0, 2, (rows,))))
    started = time.perf_counter()
    for batch, labels in inputs:
        with torch.no_grad():
            model(batch)
        embeds = model.word_embeddings(batch["input_ids"]).detach()
        for _ in range(steps):
            delta = torch.zeros_like(embeds, requires_grad=True)
            loss = F.cross_entropy(model(batch, inputs_embeds=embeds + delta), labels)
            torch.autograd.grad(loss, delta)
        with torch.no_grad():
            model(batch, inputs_embeds=embeds)
    return time.perf_counter() - started


@pytest.mark.parametrize("backbone_name", ["tiny", "minilm"])
def test_pgd_cost_against_padding_free_passes(benchmark, backbone_name, capsys, one_thread):
    if (SHARED_DATA / "sst2").is_dir():
        task, data_dir = tasks.get("sst2")(), SHARED_DATA
    else:
        task, data_dir = tasks.get("embedded")(), None
    data = task.load(data_dir)
    context = TrainContext(task, data, resolve_backbone(backbone_name), seed=0)
    model = recipes.get("baseline")().build_classifier(context).eval()
    pgd = attacks.get("pgd")(
        eps=[0.5], steps=PGD_STEPS, batch_size=BATCH_SIZE, max_examples=PGD_EXAMPLES
    )
    cell = MeasureContext(task, data, 0, "cpu", data_dir, Path("."), "", label="pgd")
    attacked = select_examples(data.eval, PGD_EXAMPLES)
    order = pgd.order(attacked, model)
    lengths = model.token_lengths([attacked[i] for i in order])
    batches = [lengths[i : i + BATCH_SIZE] for i in range(0, len(lengths), BATCH_SIZE)]
    padded = sum(len(b) * max(b) for b in batches)
    seconds: dict[str, list[float]] = {"pgd": [], "floor": []}

    def one_round() -> None:
        started = time.perf_counter()
        pgd.run(model, cell)
        seconds["pgd"].append(time.perf_counter() - started)
        seconds["floor"].append(padding_free_passes(model, batches, PGD_STEPS))

    benchmark.pedantic(one_round, rounds=PGD_ROUNDS[backbone_name], warmup_rounds=0)
    pgd_s, floor_s = min(seconds["pgd"]), min(seconds["floor"])
    ratio = pgd_s / floor_s
    n = len(attacked)
    benchmark.extra_info["pgd_over_padding_free"] = round(ratio, 3)
    report(
        capsys,
        [
            f"{backbone_name}: PGD ({PGD_STEPS} steps, 1 eps) on {n} examples: "
            f"{pgd_s / n * 1e3:.2f} ms per example, padding-free passes "
            f"{floor_s / n * 1e3:.2f} ms per example",
            f"  PGD / padding-free = {ratio:.2f} (goal <= {PGD_GOAL[backbone_name]}); "
            f"padding in PGD's batches {1 - sum(lengths) / padded:.1%}",
        ],
    )
    assert ratio <= PGD_GOAL[backbone_name], f"PGD / padding-free = {ratio:.2f}"
