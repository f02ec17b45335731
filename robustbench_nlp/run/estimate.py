"""Cost plans (``robustbench-nlp plan``): every cell of a suite, what is done, and how long the
rest will take on this machine, before any of it runs.

Measured costs come first: a cell whose attack already has finished cells in the results folder
is estimated from their recorded seconds per example, and a model whose recipe already has a
trained checkpoint for another seed from its recorded training time. The rest is calibrated
here, once per recipe that needs it:

- training: the recipe shortened to 1 and to ``CALIBRATION_STEPS`` steps per phase
  (``RecipeBase.shortened``) is trained on the task's data; the difference gives the seconds of
  one step of each phase, the rest the fixed cost (building the model, tokenising the data),
  and the estimate is the fixed cost plus each phase's planned steps (``planned_steps``) times
  its step;
- the model's speed: the shortened model's forward pass, and forward plus backward pass, per
  example over up to ``CALIBRATION_EXAMPLES`` evaluation examples, in batches of 32;
- a cell: its measurement's planned work (``Measure.planned_work``: forward and backward
  passes, their overhead, fixed seconds) at those speeds. A transfer cell's examples are the
  successful adversarial examples of the cells it reads: their recorded count once they are
  finished, else ``EXPECTED_SUCCESS`` of the source attack's examples.

Nothing is written: no checkpoint, record or manifest. ``tests/test_plan.py`` checks the
quickstart's estimate against its real run (within 2x).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from robustbench_nlp.core.progress import write
from robustbench_nlp.measure.base import MeasureContext, select_examples
from robustbench_nlp.model.backbones import resolve_backbone
from robustbench_nlp.model.checkpoints import CheckpointStore, default_checkpoint_dir
from robustbench_nlp.recipes.base import TrainContext
from robustbench_nlp.run.cells import Cell, plan, preflight
from robustbench_nlp.run.store import Record, ResultsStore
from robustbench_nlp.run.suite import Suite, Variant
from robustbench_nlp.tasks.base import TaskData

CALIBRATION_STEPS = 6
CALIBRATION_EXAMPLES = 64
#: The share of a word attack's examples it fools, before any of its cells has finished.
EXPECTED_SUCCESS = 0.75


@dataclass
class Speed:
    """One recipe's calibrated costs on this machine."""

    fixed_seconds: float
    step_seconds: dict[str, float]
    forward_seconds: float
    backward_seconds: float


@dataclass
class CellPlan:
    cell: Cell
    #: "finished", "failed" (will be retried) or "to run".
    status: str
    #: "stored", "to train" or "" (a finished cell needs none).
    checkpoint: str
    #: Seconds of training this cell's checkpoint adds (on the first cell of its group).
    train_seconds: float = 0.0
    seconds: float = 0.0
    #: Where the estimate comes from: "measured" (this folder's cells) or "calibrated".
    basis: str = ""


@dataclass
class CostPlan:
    cells: list[CellPlan]
    speeds: dict[str, Speed] = field(default_factory=dict)

    @property
    def remaining(self) -> list[CellPlan]:
        return [c for c in self.cells if c.status != "finished"]

    @property
    def train_seconds(self) -> float:
        return sum(c.train_seconds for c in self.cells)

    @property
    def attack_seconds(self) -> float:
        return sum(c.seconds for c in self.cells)


def _records(store: ResultsStore, cells: list[Cell]) -> dict[str, Record]:
    found = {}
    if store.records_dir.is_dir():
        for cell in cells:
            record = store.load(cell.cell_id)
            if record is not None:
                found[cell.cell_id] = record
    return found


def calibrate(suite: Suite, recipe: Variant, data: TaskData, seed: int, device: str) -> Speed:
    """Train ``recipe`` shortened to 1 and to ``CALIBRATION_STEPS`` steps, and time the model."""
    backbone = resolve_backbone(suite.config.backbone)
    runs = []
    for steps in (1, CALIBRATION_STEPS):
        context = TrainContext(suite.task, data, backbone, seed, device)
        started = time.perf_counter()
        model = recipe.plugin.shortened(steps).train(context)
        runs.append((time.perf_counter() - started, context.logs))
    (first, short_logs), (_, long_logs) = runs
    step_seconds = {}
    for phase, log in long_logs.items():
        steps = log.get("steps", 0) - short_logs.get(phase, {}).get("steps", 0)
        if steps > 0:
            taken = log["seconds"] - short_logs[phase]["seconds"]
            step_seconds[phase] = max(taken, 0.0) / steps
    one_step_each = sum(
        step_seconds.get(phase, 0.0) * log.get("steps", 0) for phase, log in short_logs.items()
    )
    forward, backward = _model_speed(model, data)
    return Speed(max(first - one_step_each, 0.0), step_seconds, forward, backward)


def _model_speed(model, data: TaskData) -> tuple[float, float]:
    """Seconds per example of a forward pass, and of a forward plus backward pass."""
    examples = list((data.eval or data.train)[:CALIBRATION_EXAMPLES])
    batches = [examples[i : i + 32] for i in range(0, len(examples), 32)]
    model.eval()
    model.predict_proba(batches[0], 32)  # warm up both passes
    F.cross_entropy(
        model(model.tokenize(batches[0])), torch.zeros(len(batches[0]), dtype=torch.long)
    ).backward()
    model.zero_grad(set_to_none=True)
    started = time.perf_counter()
    model.predict_proba(examples, 32)
    forward = (time.perf_counter() - started) / len(examples)
    started = time.perf_counter()
    for batch in batches:
        inputs = model.tokenize(batch)
        labels = torch.tensor([e.label for e in batch], device=model.device)
        loss = F.cross_entropy(model(inputs), labels)
        loss.backward()
        model.zero_grad(set_to_none=True)
    backward = (time.perf_counter() - started) / len(examples)
    return forward, backward


def estimate(
    suite: Suite, data_dir: Path | None, data: TaskData | None = None, device: str = "cpu"
) -> CostPlan:
    """The cost plan of ``suite`` against its results folder and checkpoint store."""
    checked = preflight(suite, data_dir, data)
    data = checked.data
    cells = plan(suite, checked)
    store = ResultsStore(suite.output)
    root = suite.checkpoint_dir
    checkpoints = CheckpointStore(root if root else default_checkpoint_dir())
    records = _records(store, cells)
    finished = {i for i, r in records.items() if r.status == "ok"}
    ok = [r for r in records.values() if r.status == "ok"]
    sizes = _sizes(suite, data, data_dir, cells, records)

    speeds: dict[str, Speed] = {}

    def speed(recipe: Variant, seed: int) -> Speed:
        if recipe.label not in speeds:
            write(f"[plan] calibrating {recipe.label} on this machine")
            speeds[recipe.label] = calibrate(suite, recipe, data, seed, device)
        return speeds[recipe.label]

    planned, trained = [], set()
    for cell in cells:
        if cell.cell_id in finished:
            planned.append(CellPlan(cell, "finished", ""))
            continue
        status = "failed" if cell.cell_id in records else "to run"
        stored = checkpoints.exists(cell.checkpoint_key)
        entry = CellPlan(cell, status, "stored" if stored else "to train")
        if not stored and cell.checkpoint_key not in trained:  # counted once per model
            trained.add(cell.checkpoint_key)
            entry.train_seconds = _training(cell, ok, data, speed)
        n = sizes[cell.cell_id]
        same = [r for r in ok if r.attack.label == cell.attack.label and r.n_examples]
        if same:
            per_example = sum(r.timings.get("attack_seconds", 0.0) for r in same) / sum(
                r.n_examples for r in same
            )
            entry.seconds, entry.basis = per_example * n, "measured"
        else:
            costs = speed(cell.recipe, cell.seed)
            work = cell.attack.plugin.planned_work(n)
            model_time = work.forwards * costs.forward_seconds
            model_time += work.backwards * costs.backward_seconds
            entry.seconds = model_time * work.overhead + work.fixed_seconds
            entry.basis = "calibrated"
        planned.append(entry)
    return CostPlan(planned, speeds)


def _training(cell: Cell, ok: list[Record], data: TaskData, speed) -> float:
    """Recorded training time of the recipe's other checkpoints, else calibrated."""
    recorded = {
        r.checkpoint: r.timings.get("train_seconds", 0.0)
        for r in ok
        if r.recipe.label == cell.recipe.label
    }
    if recorded:
        return statistics.fmean(recorded.values())
    costs = speed(cell.recipe, cell.seed)
    steps = cell.recipe.plugin.planned_steps(data)
    return costs.fixed_seconds + sum(n * costs.step_seconds.get(p, 0.0) for p, n in steps.items())


def _sizes(suite, data, data_dir, cells, records) -> dict[str, int]:
    """Examples each cell measures (a transfer cell: its sources' successful examples)."""
    sizes: dict[str, int] = {}
    by_label: dict[str, int] = {}
    for attack in suite.attacks:
        if attack.plugin.reads_attack() is None:
            context = MeasureContext(suite.task, data, 0, "cpu", data_dir, Path("."), "")
            rows = attack.plugin.examples(context)
            by_label[attack.label] = len(select_examples(rows, attack.plugin.max_examples))
    for cell in cells:
        source = cell.attack.plugin.reads_attack()
        if source is None:
            sizes[cell.cell_id] = by_label[cell.attack.label]
            continue
        total = 0.0
        for _, source_id in cell.sources:
            record = records.get(source_id)
            if record is not None and record.status == "ok" and "succeeded" in record.metrics:
                total += record.metrics["succeeded"]
            else:
                total += EXPECTED_SUCCESS * by_label[source]
        sizes[cell.cell_id] = round(total)
    return sizes


def render_plan(cost: CostPlan) -> str:
    """The plan as text: a row per cell, then the totals."""
    from tabulate import tabulate

    rows = [
        [
            c.cell.cell_id,
            c.status,
            c.checkpoint or "—",
            f"{c.train_seconds:.0f}" if c.train_seconds else "",
            f"{c.seconds:.0f}" if c.status != "finished" else "",
            c.basis,
        ]
        for c in cost.cells
    ]
    headers = ["cell", "status", "checkpoint", "train s", "cell s", "estimate from"]
    remaining = cost.remaining
    models = sum(1 for c in cost.cells if c.train_seconds)
    lines = [
        tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True),
        "",
        f"{len(cost.cells) - len(remaining)} of {len(cost.cells)} cells finished; "
        f"{len(remaining)} to run, {models} models to train: about "
        f"{_duration(cost.train_seconds)} of training and {_duration(cost.attack_seconds)} of "
        f"evaluation ({_duration(cost.train_seconds + cost.attack_seconds)}) on this machine.",
    ]
    for label, s in cost.speeds.items():
        steps = ", ".join(f"{p} {v:.2f} s/step" for p, v in s.step_seconds.items()) or "no steps"
        lines.append(
            f"- calibrated `{label}`: {steps}, {s.fixed_seconds:.1f} s fixed; "
            f"{s.forward_seconds * 1000:.1f} ms forward, {s.backward_seconds * 1000:.1f} ms "
            "forward+backward per example"
        )
    return "\n".join(lines) + "\n"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
