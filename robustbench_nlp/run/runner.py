"""The runner: the grid recipe x seed x attack as independent cells, each writing one record.

A cell is identified by a hash of everything that decides its result, so rerunning a suite skips
finished cells and anything that changes a result makes a new cell:

- the task, its parameters and version, and a fingerprint of the rows it loaded (edit a row of
  a training file, or point ``--data-dir`` at another copy with other content: new checkpoint
  and new cells);
- the backbone, the recipe, its parameters and version, and the seed (the checkpoint key);
- the attack or evaluation, its parameters and version, a fingerprint of the examples it
  measures (an edited challenge file) and of the offline resources it uses (a rebuilt synonym
  space).

Cells sharing (recipe, seed) share one trained checkpoint, trained at most once and reused
across suites through the checkpoint store. Before any training the runner loads the task and
runs every plugin's preflight (files found and parsed, resources present), so bad input fails
in one line with nothing written. A failing cell is recorded with its error and the others go
on; a KeyboardInterrupt stops the run but never corrupts finished records.
"""

from __future__ import annotations

import platform
import re
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from robustbench_nlp.core.hashing import stable_hash
from robustbench_nlp.core.progress import make_progress, write
from robustbench_nlp.measure.base import MeasureContext
from robustbench_nlp.model.backbones import Backbone, resolve_backbone
from robustbench_nlp.model.checkpoints import CheckpointStore, default_checkpoint_dir
from robustbench_nlp.model.classifier import Classifier
from robustbench_nlp.recipes.base import TrainContext
from robustbench_nlp.resources.layout import fingerprint as resources_fingerprint
from robustbench_nlp.run.store import PluginRecord, Record, ResultsStore
from robustbench_nlp.run.suite import Suite, Variant
from robustbench_nlp.tasks.base import TaskData


@dataclass(frozen=True)
class Cell:
    recipe: Variant
    seed: int
    attack: Variant
    cell_id: str
    checkpoint_key: str
    fingerprints: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass
class RunSummary:
    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.=-]+", "-", text).strip("-").lower() or "x"


def plugin_identity(name: str, plugin) -> dict:
    return {"name": name, "params": plugin.params(), "version": plugin.version}


def data_fingerprint(data: TaskData) -> str:
    """A fingerprint of the rows a task loaded (after subsetting): what training and the
    attacks of the task's evaluation split actually see."""
    return stable_hash([[e.id for e in data.train], [e.id for e in data.eval]])


def checkpoint_key(suite: Suite, recipe: Variant, seed: int, data: str) -> str:
    return stable_hash(
        {
            "recipe": plugin_identity(recipe.plugin.plugin_name, recipe.plugin),
            "task": plugin_identity(suite.task.plugin_name, suite.task),
            "data": data,
            "backbone": suite.config.backbone,
            "seed": seed,
        }
    )


@dataclass(frozen=True)
class Preflight:
    """What the runner learned before any work: the task's data and every fingerprint."""

    data: TaskData
    data_fingerprint: str
    #: attack label -> {"examples": ..., "resources": ...}
    attacks: dict[str, dict[str, str]]


def preflight(suite: Suite, data_dir: Path | None, data: TaskData | None = None) -> Preflight:
    """Load the task (unless ``data`` is its loaded data already) and check every attack's files
    and resources, before any training.

    Raises ``UserError`` (one line, naming the file and the fix) on the first problem.
    """
    data = data if data is not None else suite.task.load(data_dir)
    fingerprints: dict[str, dict[str, str]] = {}
    for attack in suite.attacks:
        plugin = attack.plugin
        plugin.preflight(data_dir, suite.task)
        context = MeasureContext(
            suite.task, data, 0, "cpu", data_dir, Path("."), "", label=attack.label
        )
        fingerprints[attack.label] = {
            "examples": plugin.fingerprint(context),
            "resources": resources_fingerprint(*plugin.resource_names()),
        }
    return Preflight(data, data_fingerprint(data), fingerprints)


def plan(suite: Suite, checked: Preflight) -> list[Cell]:
    """Every cell of the suite, in run order: seed by seed (so a partial run already has one
    complete row per recipe), cells of one (recipe, seed) together (they share a checkpoint)."""
    cells = []
    for seed in suite.config.seeds:
        for recipe in suite.recipes:
            key = checkpoint_key(suite, recipe, seed, checked.data_fingerprint)
            for attack in suite.attacks:
                fingerprints = {
                    "data": checked.data_fingerprint,
                    **checked.attacks[attack.label],
                    "versions": {
                        "task": suite.task.version,
                        "recipe": recipe.plugin.version,
                        "attack": attack.plugin.version,
                    },
                }
                identity = stable_hash(
                    {
                        "checkpoint": key,
                        "attack": plugin_identity(attack.plugin.plugin_name, attack.plugin),
                        "examples": fingerprints["examples"],
                        "resources": fingerprints["resources"],
                    },
                    length=10,
                )
                cell_id = f"{_slug(recipe.label)}__seed{seed}__{_slug(attack.label)}__{identity}"
                cells.append(Cell(recipe, seed, attack, cell_id, key, fingerprints))
    return cells


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("robustbench-nlp", "torch", "transformers", "textattack"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


def pick_device(requested: str) -> str:
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def manifest(suite: Suite, cells: list[Cell]) -> dict:
    """The resolved suite (every parameter filled in) and its cell ids, for the leaderboard."""
    return {
        "suite": suite.config.name,
        "description": suite.config.description,
        "source": str(suite.path),
        "backbone": suite.config.backbone,
        "seeds": suite.config.seeds,
        "task": {"name": suite.task.plugin_name, "params": suite.task.params()},
        "recipes": [
            {"label": v.label, "name": v.plugin.plugin_name, "params": v.plugin.params()}
            for v in suite.recipes
        ],
        "attacks": [
            {"label": v.label, "name": v.plugin.plugin_name, "params": v.plugin.params()}
            for v in suite.attacks
        ],
        "cells": [cell.cell_id for cell in cells],
    }


def _group(cells: list[Cell]) -> Iterator[list[Cell]]:
    group: list[Cell] = []
    for cell in cells:
        if group and cell.checkpoint_key != group[0].checkpoint_key:
            yield group
            group = []
        group.append(cell)
    if group:
        yield group


class Runner:
    def __init__(self, suite: Suite, data_dir: Path | None, data: TaskData | None = None) -> None:
        self.suite = suite
        self.data_dir = data_dir
        #: The task's data when the caller loaded it already (the command line does, to report
        #: a bad data file before importing torch).
        self.data = data
        self.store = ResultsStore(suite.output)
        root = suite.config.checkpoint_dir
        self.checkpoints = CheckpointStore(Path(root) if root else default_checkpoint_dir())
        self.device = pick_device(suite.config.device)
        self.versions = library_versions()

    def run(self) -> RunSummary:
        # Everything that can fail on bad input happens before any training.
        checked = preflight(self.suite, self.data_dir, self.data)
        data = checked.data
        backbone = resolve_backbone(self.suite.config.backbone)
        cells = plan(self.suite, checked)
        self.store.write_manifest(manifest(self.suite, cells))
        summary = RunSummary()
        bar = make_progress(len(cells), f"suite {self.suite.config.name}", unit="cell")
        for group in _group(cells):
            pending = [c for c in group if not self.store.is_finished(c.cell_id)]
            summary.reused += [c.cell_id for c in group if c not in pending]
            bar.update(len(group) - len(pending))
            if not pending:
                continue
            self._run_group(pending, data, backbone, summary, bar)
        bar.close()
        return summary

    def _run_group(self, cells, data: TaskData, backbone: Backbone, summary, bar) -> None:
        first = cells[0]
        training = {}
        try:
            model, reused, training, train_seconds = self._obtain_model(first, data, backbone)
        except Exception as error:  # the whole group fails, the suite goes on
            for cell in cells:
                self._write_failed(cell, data, error, summary)
                bar.update()
            return
        for cell in cells:
            write(f"[{self.suite.config.name}] {cell.cell_id}: running")
            started = time.perf_counter()
            context = MeasureContext(
                task=self.suite.task,
                data=data,
                seed=cell.seed,
                device=self.device,
                data_dir=self.data_dir,
                artifact_dir=self.store.records_dir,
                artifact_prefix=cell.cell_id,
                label=cell.attack.label,
            )
            try:
                result = cell.attack.plugin.run(model, context)
            except Exception as error:
                self._write_failed(cell, data, error, summary, training=training)
                bar.update()
                continue
            record = self._record(cell, data, "ok")
            record.metrics = result.metrics
            record.columns = list(result.columns)
            record.n_examples = result.n_examples
            record.outcomes = self.store.write_outcomes(cell.cell_id, result.outcomes.to_json())
            record.artifacts = result.artifacts
            record.checkpoint_reused = reused
            record.training = training
            record.timings = {
                "train_seconds": round(train_seconds, 2),
                "attack_seconds": round(time.perf_counter() - started, 2),
            }
            self.store.write(record)
            summary.computed.append(cell.cell_id)
            bar.update()

    def _obtain_model(
        self, cell: Cell, data: TaskData, backbone: Backbone
    ) -> tuple[Classifier, bool, dict, float]:
        key = cell.checkpoint_key
        if self.checkpoints.exists(key):
            meta = self.checkpoints.meta(key)
            return self.checkpoints.load(key, self.device), True, meta["training"], meta["seconds"]
        started = time.perf_counter()
        context = TrainContext(self.suite.task, data, backbone, cell.seed, self.device)
        model = cell.recipe.plugin.train(context)
        seconds = time.perf_counter() - started
        self.checkpoints.save(
            key,
            model,
            {
                "recipe": plugin_identity(cell.recipe.plugin.plugin_name, cell.recipe.plugin),
                "task": plugin_identity(self.suite.task.plugin_name, self.suite.task),
                "backbone": self.suite.config.backbone,
                "seed": cell.seed,
                "training": context.logs,
                "seconds": round(seconds, 2),
                "versions": self.versions,
            },
        )
        return model.eval(), False, context.logs, seconds

    def _record(self, cell: Cell, data: TaskData, status: str) -> Record:
        task = self.suite.task
        return Record(
            cell_id=cell.cell_id,
            suite=self.suite.config.name,
            status=status,
            backbone=self.suite.config.backbone,
            task=PluginRecord(name=task.plugin_name, label=task.plugin_name, params=task.params()),
            task_source=data.source,
            recipe=PluginRecord(
                name=cell.recipe.plugin.plugin_name,
                label=cell.recipe.label,
                params=cell.recipe.plugin.params(),
            ),
            seed=cell.seed,
            attack=PluginRecord(
                name=cell.attack.plugin.plugin_name,
                label=cell.attack.label,
                params=cell.attack.plugin.params(),
            ),
            checkpoint=cell.checkpoint_key,
            fingerprints=cell.fingerprints,
            versions=self.versions,
        )

    def _write_failed(self, cell, data, error: Exception, summary, training=None) -> None:
        record = self._record(cell, data, "failed")
        record.error = "".join(traceback.format_exception(error)).strip()
        record.training = training or {}
        self.store.write(record)
        summary.failed.append(cell.cell_id)
        message = f"{type(error).__name__}: {error}".splitlines()[0]
        write(f"[{self.suite.config.name}] {cell.cell_id}: FAILED ({message})")
