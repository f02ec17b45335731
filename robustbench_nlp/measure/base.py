"""The measurement contract shared by attacks (perturbations) and evaluations (fixed sets).

A measurement takes a trained classifier and returns, per example, what happened (the cell's
*outcomes*: whether the model is right, and whatever the measurement adds: queries, the
adversarial text, a similarity score); its metrics are declared on the class (``Metric``) and
computed from those outcomes here, so a plugin file holds only its algorithm. This base owns:

- model mode: eval (no dropout) for the whole cell;
- selection: ``max_examples`` means the same thing everywhere (``select_examples``);
- batching: ``batch_size`` examples per call of the plugin's hook, cut from the examples sorted by
  length (``order``) so that a padded batch carries little padding; the outcomes keep the
  examples' original order whatever order they were measured in;
- progress: one bar (or, off a terminal, a line every few percent) per cell.

Subclasses: ``attacks.base.Attack`` (the suite task's evaluation split, perturbed) and
``evaluations.base.Evaluation`` (a fixed set scored as it is).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from robustbench_nlp.core.hashing import stable_hash
from robustbench_nlp.core.metrics import Metric, reduce_metric
from robustbench_nlp.core.plugin import Plugin
from robustbench_nlp.core.progress import progress
from robustbench_nlp.tasks.base import Example, Task, TaskData

if TYPE_CHECKING:  # annotations only: importing the classifier imports torch
    from robustbench_nlp.model.classifier import Classifier


def select_examples(rows: Sequence[Example], max_examples: int | None) -> list[Example]:
    """The one meaning of ``max_examples``: the N examples whose ids hash lowest, in their
    original order (all of them when N is unset or at least the set's size).

    It is a seeded random subset that depends on the examples alone (not on file order or on
    other settings), and a smaller N always picks a subset of a larger one, so attacks of one
    suite with different N share their examples as far as they can.
    """
    if max_examples is None or max_examples >= len(rows):
        return list(rows)
    ranked = sorted(range(len(rows)), key=lambda i: (stable_hash(rows[i].id), i))
    keep = sorted(ranked[:max_examples])
    return [rows[i] for i in keep]


#: The file a measurement that writes adversarial examples puts beside its record
#: (``<cell>.adv.jsonl``, one JSON row per attacked example); transfer cells read it.
ADVERSARIAL_SUFFIX = ".adv.jsonl"


@dataclass
class MeasureContext:
    """What the runner hands a measurement."""

    task: Task
    data: TaskData
    seed: int
    device: str
    data_dir: Path | None
    #: Folder for this cell's files; names written there go in ``MeasureResult.artifacts``.
    artifact_dir: Path
    #: Prefix for file names, unique per cell.
    artifact_prefix: str
    label: str = ""
    #: Per-cell state a plugin keeps across its batches (a seeded generator, a session).
    state: dict[str, Any] = field(default_factory=dict)
    #: For a measurement that replays another attack's cells (``Measure.reads_attack``): source
    #: recipe label -> the files that attack's cell of this seed wrote (None: not finished).
    inputs: dict[str, list[Path] | None] = field(default_factory=dict)


@dataclass
class Outcomes:
    """Per-example results of one cell, column by column: ``fields[name][i]`` is example
    ``ids[i]``'s value (bool, number, text or None)."""

    ids: list[str]
    fields: dict[str, list[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def extend(self, ids: Sequence[str], fields: dict[str, Sequence[Any]]) -> None:
        for name, values in fields.items():
            if len(values) != len(ids):
                raise ValueError(f"outcome field {name!r}: {len(values)} values for {len(ids)}")
            self.fields.setdefault(name, [None] * len(self.ids)).extend(values)
        for name, values in self.fields.items():
            if name not in fields:
                values.extend([None] * len(ids))
        self.ids.extend(ids)

    def to_json(self) -> str:
        """Compact and diff-friendly: one line per field."""
        lines = [f'{{"ids": {json.dumps(self.ids)}, "fields": {{']
        body = [
            f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in self.fields.items()
        ]
        lines.append(",\n".join(body))
        lines.append("}}")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Outcomes:
        data = json.loads(text)
        return cls(list(data["ids"]), {k: list(v) for k, v in data["fields"].items()})


@dataclass(frozen=True)
class Work:
    """What measuring a cell costs, in the model's passes over one example (for ``plan``)."""

    #: Forward passes (inference) of one example.
    forwards: float = 0.0
    #: Forward and backward passes of one example (gradient attacks).
    backwards: float = 0.0
    #: Seconds besides the model's passes (building an attack, loading resources).
    fixed_seconds: float = 0.0
    #: How many times the model's passes the rest of the measurement costs (a search, a
    #: similarity constraint): the cell's time over its model time.
    overhead: float = 1.0


@dataclass
class MeasureResult:
    metrics: dict[str, float]
    columns: list[Metric]
    outcomes: Outcomes
    artifacts: list[str] = field(default_factory=list)
    #: Things a reader must know about the numbers (an undefined correlation, ...).
    notes: list[str] = field(default_factory=list)

    @property
    def n_examples(self) -> int:
        return len(self.outcomes)


def _where_field(metric: Metric) -> str:
    return metric.where.lstrip("!").partition("=")[0]


def _tag_names(batch: Sequence[Example]) -> list[str]:
    return list(dict.fromkeys(name for e in batch for name, _ in e.tags))


class Measure(Plugin):
    """Base of attacks and evaluations (see the module docstring)."""

    kind: ClassVar[str] = "attack"
    #: True when ``examples`` is the suite task's evaluation split (the suite's ``max_examples``
    #: then applies, so that the clean column and every attack share one example set).
    reads_task_eval: ClassVar[bool] = False
    #: The metrics computed from the outcomes (``metrics()`` may add to them).
    metric_specs: ClassVar[tuple[Metric, ...]] = ()
    #: Whether ``run`` keeps each example's tokens for the cell (``token_cache``): right for a
    #: measurement of fixed examples, wrong for one that queries many new texts.
    cache_tokens: ClassVar[bool] = True
    #: Whether its cells write ``<cell>.adv.jsonl`` (the adversarial examples it found), which
    #: a transfer measurement can replay against other recipes.
    writes_adversarial_examples: ClassVar[bool] = False

    max_examples: int | None = Field(
        None, gt=0, description="A fixed random subset of N examples (see select_examples)."
    )
    batch_size: int = Field(32, ge=1)

    # -- hooks --------------------------------------------------------------------------------
    def ensemble_field(self) -> str | None:
        """The per-example outcome field ("still right") this contributes to the worst-case
        ensemble, or None when it is no perturbation (fixed evaluation sets)."""
        return None

    def default_label(self, name: str) -> str:
        """The leaderboard label when the suite gives none (default: the registered name)."""
        return name

    def planned_work(self, n_examples: int) -> Work:
        """What measuring ``n_examples`` examples costs (``robustbench-nlp plan``); default:
        one forward pass each."""
        return Work(forwards=n_examples)

    def reads_attack(self) -> str | None:
        """The label of the suite's attack whose cells' files this replays (None: it reads
        none). The runner then runs its cells after that attack's cells of the same seed and
        hands it their files (``MeasureContext.inputs``)."""
        return None

    def examples(self, context: MeasureContext) -> list[Example]:
        """Every example this measurement could use, before selection."""
        raise NotImplementedError

    def measure(
        self, model: Classifier, batch: list[Example], context: MeasureContext
    ) -> dict[str, list[Any]]:
        """Per-example outcome fields of one batch (the plugin's algorithm)."""
        raise NotImplementedError

    def metrics(self, outcomes: Outcomes) -> list[Metric]:
        """The metrics of this cell (default: the class's ``metric_specs``)."""
        return list(self.metric_specs)

    def extra_metrics(self, outcomes: Outcomes, context: MeasureContext) -> dict[str, float]:
        """Metrics not computed from one outcome field (declared with ``field=None``)."""
        return {}

    def close(self, context: MeasureContext) -> None:
        """Release what ``measure`` kept in ``context.state`` (worker pools); always called."""

    def export(self, outcomes: Outcomes, context: MeasureContext) -> list[str]:
        """Files besides the outcomes this cell writes (names relative to artifact_dir)."""
        return []

    def preflight(self, data_dir: Path | None, task: Task) -> None:
        """Check, before any training, that every file and resource this will read is there
        and parses (raise ``UserError`` naming the file and the fix)."""

    def fingerprint(self, context: MeasureContext) -> str:
        """A fingerprint of the examples this measures (ids and tags), part of the cell's
        identity: an edited challenge file or another data copy makes a new cell."""
        rows = self.examples(context)
        return stable_hash([[e.id, list(e.tags)] for e in rows])

    def resource_names(self) -> tuple[str, ...]:
        """Offline resources this uses (their fingerprint is part of the cell's identity)."""
        return ()

    # -- the template -------------------------------------------------------------------------
    def order(self, rows: Sequence[Example], model: Classifier) -> list[int]:
        """The order the examples are measured in: by length (a stable sort, so equal lengths
        keep their order), so that each batch holds similar lengths and pads little.

        The length is the model's token count (``Classifier.token_lengths``; ``run`` holds a
        ``token_cache``, so the batches reuse that tokenisation), or, for a model that cannot
        tell, the characters of the text and the pair. It depends on the examples and
        the tokenizer alone.
        """
        if hasattr(model, "token_lengths"):
            lengths = model.token_lengths(rows)
        else:
            lengths = [len(e.text) + len(e.pair or "") for e in rows]
        return sorted(range(len(rows)), key=lengths.__getitem__)

    def batches(self, rows: list[Example]) -> Iterator[list[Example]]:
        """Consecutive slices of ``rows`` (already in ``order``), one per ``measure`` call."""
        for start in range(0, len(rows), self.batch_size):
            yield rows[start : start + self.batch_size]

    def run(self, model: Classifier, context: MeasureContext) -> MeasureResult:
        from robustbench_nlp.model.classifier import token_cache

        scope = token_cache() if self.cache_tokens else contextlib.nullcontext()
        rows = select_examples(self.examples(context), self.max_examples)
        was_training = model.training
        model.eval()
        measured: list[dict[str, Any]] = [{} for _ in rows]  # per example, original order
        names: dict[str, None] = {}
        done = 0
        try:
            with (
                scope,
                progress(
                    len(rows), f"{context.label or self.plugin_name} seed={context.seed}"
                ) as bar,
            ):
                order = self.order(rows, model)
                for batch in self.batches([rows[i] for i in order]):
                    fields = self.measure(model, batch, context)
                    tags = {
                        name: [dict(e.tags).get(name) for e in batch] for name in _tag_names(batch)
                    }
                    fields = {"label": [e.label for e in batch], **tags, **fields}
                    for name, values in fields.items():
                        if len(values) != len(batch):
                            raise ValueError(
                                f"outcome field {name!r}: {len(values)} values for {len(batch)}"
                            )
                        names.setdefault(name, None)
                        for offset, value in enumerate(values):
                            measured[order[done + offset]][name] = value
                    done += len(batch)
                    bar.update(len(batch))
            if done != len(rows):
                raise ValueError(f"batches covered {done} of {len(rows)} examples")
            outcomes = Outcomes([])
            outcomes.extend(
                [e.id for e in rows], {name: [m.get(name) for m in measured] for name in names}
            )
            result = self.finish(outcomes, context)
        finally:
            self.close(context)
            model.train(was_training)
        return result

    def finish(self, outcomes: Outcomes, context: MeasureContext) -> MeasureResult:
        columns = self.metrics(outcomes)
        values = self.extra_metrics(outcomes, context)
        for metric in columns:
            # A count needs only its filter's field; a mean or sum its own field.
            needed = _where_field(metric) if metric.reduce == "count" else metric.source
            if metric.source is not None and (not needed or needed in outcomes.fields):
                value = reduce_metric(metric, outcomes.fields, len(outcomes))
                if value is not None:
                    values[metric.key] = value
        notes = list(context.state.get("notes", []))
        return MeasureResult(values, columns, outcomes, self.export(outcomes, context), notes)
