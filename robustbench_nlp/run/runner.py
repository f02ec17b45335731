"""The runner: the grid recipe x seed x attack as independent cells, each writing one record.

A cell is identified by a hash of everything that decides its result, so rerunning a suite skips
finished cells and anything that changes a result makes a new cell:

- the task, its parameters and version, and a fingerprint of the rows it loaded (edit a row of
  a training file, or point ``--data-dir`` at another copy with other content: new checkpoint
  and new cells);
- the backbone, the recipe, its parameters and version, and the seed (the checkpoint key), and
  what its preflight says of the files it reads (``hf_classifier``: a fingerprint of the model's
  weight files, so a replaced model is a new checkpoint and new cells);
- the attack or evaluation, its parameters and version, a fingerprint of the examples it
  measures (an edited challenge file) and of the offline resources it uses (a rebuilt synonym
  space).

Cells sharing (recipe, seed) share one trained checkpoint, trained at most once and reused
across suites through the checkpoint store. Before anything is written the runner checks the
device, that the results and checkpoint folders can be written, that the results folder is this
suite's (``store.manifest_conflict``; ``force`` takes it over), the task's data and every
plugin's preflight (files found and parsed, resources present), the backbone, and every record
already there (``store.foreign_reason``), so bad input fails in one line with nothing written.
A failing cell is recorded with its error and the others go on; a KeyboardInterrupt stops the
run but never corrupts finished records. A training whose loss turns NaN or infinite fails its
group (``recipes.base.TrainingDiverged``), and a cell with a non-finite metric fails: numbers
that cannot be trusted are never recorded as ok.

Two runs of one suite at once split the work: a checkpoint key is trained under its lock (the
second process waits, then loads it), a cell is computed under its lock (the second process
takes the next free cell and afterwards waits for the busy ones, finding them done), and the
manifest is merged under a lock, so each cell is computed once and nothing is overwritten.
"""

from __future__ import annotations

import math
import os
import platform
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
from filelock import Timeout

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.files import writable_folder_problem
from robustbench_nlp.core.hashing import stable_hash
from robustbench_nlp.core.progress import make_progress, write
from robustbench_nlp.measure.base import MeasureContext
from robustbench_nlp.model.backbones import Backbone, resolve_backbone
from robustbench_nlp.model.checkpoints import CheckpointStore, default_checkpoint_dir
from robustbench_nlp.model.classifier import Classifier
from robustbench_nlp.recipes.base import TrainContext, check_finite
from robustbench_nlp.resources.layout import fingerprint as resources_fingerprint
from robustbench_nlp.run.store import (
    PluginRecord,
    Record,
    ResultsStore,
    cell_prefix,
    manifest_conflict,
    merge_manifests,
    settings_hash,
)
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
    #: For a replaying cell (transfer): (recipe label, cell id) of each cell it reads.
    sources: tuple[tuple[str, str], ...] = ()


@dataclass
class RunSummary:
    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def plugin_identity(name: str, plugin) -> dict:
    return {"name": name, "params": plugin.params(), "version": plugin.version}


def data_fingerprint(data: TaskData) -> str:
    """A fingerprint of the rows a task loaded (after subsetting): what training and the
    attacks of the task's evaluation split actually see."""
    return stable_hash([[e.id for e in data.train], [e.id for e in data.eval]])


def checkpoint_key(
    suite: Suite, recipe: Variant, seed: int, data: str, files: dict[str, str] | None = None
) -> str:
    """The identity of a trained model; ``files`` (what the recipe's preflight says of the files
    it reads) joins it only when there is any, so other recipes keep their keys."""
    identity = {
        "recipe": plugin_identity(recipe.plugin.plugin_name, recipe.plugin),
        "task": plugin_identity(suite.task.plugin_name, suite.task),
        "data": data,
        "backbone": suite.config.backbone,
        "seed": seed,
    }
    if files:
        identity["files"] = files
    return stable_hash(identity)


@dataclass(frozen=True)
class Preflight:
    """What the runner learned before any work: the task's data and every fingerprint."""

    data: TaskData
    data_fingerprint: str
    #: attack label -> {"examples": ..., "resources": ...}
    attacks: dict[str, dict[str, str]]
    #: (recipe label, seed) -> what its preflight says of the files it reads (see
    #: ``checkpoint_key``)
    recipes: dict[tuple[str, int], dict[str, str]] = field(default_factory=dict)


def preflight(suite: Suite, data_dir: Path | None, data: TaskData | None = None) -> Preflight:
    """Load the task (unless ``data`` is its loaded data already) and check every recipe's and
    every attack's files and resources, before any training.

    Raises ``UserError`` (one line, naming the file and the fix) on the first problem.
    """
    data = data if data is not None else suite.task.load(data_dir)
    recipes = {
        (recipe.label, seed): recipe.plugin.preflight(suite.task, seed)
        for recipe in suite.recipes
        for seed in suite.config.seeds
    }
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
    return Preflight(data, data_fingerprint(data), fingerprints, recipes)


def plan(suite: Suite, checked: Preflight) -> list[Cell]:
    """Every cell of the suite, in run order: seed by seed (so a partial run already has one
    complete row per recipe), cells of one (recipe, seed) together (they share a checkpoint),
    and a seed's replaying cells (transfer) after every cell they read."""
    cells = []
    replaying = [a for a in suite.attacks if a.plugin.reads_attack() is not None]
    direct = [a for a in suite.attacks if a not in replaying]
    for seed in suite.config.seeds:
        ids: dict[tuple[str, str], str] = {}  # (recipe, attack) -> cell id, this seed
        for attacks in (direct, replaying):
            for recipe in suite.recipes:
                files = checked.recipes.get((recipe.label, seed))
                key = checkpoint_key(suite, recipe, seed, checked.data_fingerprint, files)
                for attack in attacks:
                    source = attack.plugin.reads_attack()
                    sources = (
                        tuple((r.label, ids[(r.label, source)]) for r in suite.recipes)
                        if source is not None
                        else ()
                    )
                    cell = _cell(suite, checked, recipe, seed, attack, key, files, sources)
                    ids[(recipe.label, attack.label)] = cell.cell_id
                    cells.append(cell)
    return cells


def _cell(suite, checked, recipe, seed, attack, key, files, sources) -> Cell:
    fingerprints = {
        "data": checked.data_fingerprint,
        **checked.attacks[attack.label],
        **({"recipe_files": files} if files else {}),
        **({"sources": dict(sources)} if sources else {}),
        "versions": {
            "task": suite.task.version,
            "recipe": recipe.plugin.version,
            "attack": attack.plugin.version,
        },
    }
    identity = {
        "checkpoint": key,
        "attack": plugin_identity(attack.plugin.plugin_name, attack.plugin),
        "examples": fingerprints["examples"],
        "resources": fingerprints["resources"],
        **({"sources": dict(sources)} if sources else {}),
    }
    cell_id = f"{cell_prefix(recipe.label, seed, attack.label)}__{stable_hash(identity, length=10)}"
    return Cell(recipe, seed, attack, cell_id, key, fingerprints, sources)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("robustbench-nlp", "torch", "transformers", "textattack"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


def pick_device(requested: str) -> str:
    available = torch.cuda.is_available()
    if requested == "auto":
        return "cuda" if available else "cpu"
    if requested == "cuda" and not available:
        raise UserError(
            f"device: cuda, but torch {torch.__version__} sees no CUDA device here; use "
            "device: auto (CUDA when there is one) or device: cpu."
        )
    return requested


def settings(suite: Suite) -> dict:
    """The resolved suite (every parameter filled in), without its cells."""
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
            {
                "label": v.label,
                "name": v.plugin.plugin_name,
                "params": v.plugin.params(),
                "perturbs": v.plugin.perturbs,
            }
            for v in suite.attacks
        ],
        "ensemble": [
            {"label": v.label, "field": v.plugin.ensemble_field()}
            for v in suite.attacks
            if (suite.config.ensemble is None or v.label in suite.config.ensemble)
            and v.plugin.ensemble_field() is not None
        ],
        "reference": suite.config.reference
        or next((v.label for v in suite.recipes if v.label == "baseline"), suite.recipes[0].label),
    }


def manifest(suite: Suite, cells: list[Cell]) -> dict:
    """The resolved suite and its cell ids, for the leaderboard."""
    return {**settings(suite), "cells": [cell.cell_id for cell in cells]}


def _owner(suite: Suite, results: Path, manifest_: dict) -> dict:
    try:
        source = os.path.relpath(suite.path.resolve(), results.resolve())
    except ValueError:  # another drive (Windows)
        source = str(suite.path.resolve())
    return {"source": Path(source).as_posix(), "settings_hash": settings_hash(manifest_)}


def check_ownership(suite: Suite, store: ResultsStore) -> None:
    """Refuse to run ``suite`` into a results folder that belongs to another suite."""
    if not store.has_manifest():
        return
    existing = store.manifest()
    conflict = manifest_conflict(existing, settings(suite))
    if conflict is None:
        return
    owner = existing.get("owner") or {}
    source = owner.get("source")
    source = os.path.normpath(store.root / source) if source else existing.get("source")
    whose = f"suite {source or '?'}"
    raise UserError(
        f"{store.root} belongs to {whose} ({existing['suite']!r}, {len(existing['cells'])} "
        f"cells), and {suite.path} differs from it: {conflict}; pass --output DIR to write "
        "its results elsewhere, or --force to make the folder this suite's (its manifest is "
        "replaced; the records stay)."
    )


def check_folders(suite: Suite, checkpoints: Path) -> None:
    for what, folder in (("output", suite.output), ("checkpoint_dir", checkpoints)):
        problem = writable_folder_problem(folder)
        if problem:
            raise UserError(f"{suite.path}: {what} {folder}: {problem}.")


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
    def __init__(
        self,
        suite: Suite,
        data_dir: Path | None,
        force: bool = False,
        data: TaskData | None = None,
    ) -> None:
        self.suite = suite
        self.data_dir = data_dir
        #: Take the results folder over even if it belongs to another suite.
        self.force = force
        #: The task's data when the caller loaded it already (the command line does, to report
        #: a bad data file before importing torch).
        self.data = data
        self.store = ResultsStore(suite.output)
        root = suite.checkpoint_dir
        self.checkpoints = CheckpointStore(root if root else default_checkpoint_dir())
        self.device = "cpu"
        self.versions = library_versions()

    def run(self) -> RunSummary:
        # Everything that can fail on bad input happens before anything is written.
        self.device = pick_device(self.suite.config.device)
        check_folders(self.suite, self.checkpoints.root)
        if not self.force:
            check_ownership(self.suite, self.store)
        checked = preflight(self.suite, self.data_dir, self.data)
        data = checked.data
        backbone = resolve_backbone(self.suite.config.backbone)
        cells = plan(self.suite, checked)
        planned = manifest(self.suite, cells)
        for cell in cells:  # refuse a foreign record before anything is written
            self.store.load_checked(cell.cell_id, planned)
        self._write_manifest(planned)
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

    def _write_manifest(self, planned: dict) -> None:
        """Merge this run's cells into the folder's manifest (or, with ``force`` or none there,
        write it), under the manifest's lock: a concurrent run of the same suite merges too."""
        with self.store.lock("suite.json"):
            merged = planned
            if self.store.has_manifest() and not self.force:
                existing = self.store.manifest()
                conflict = manifest_conflict(existing, planned)
                if conflict is not None:  # another suite took the folder since the check
                    check_ownership(self.suite, self.store)
                merged = merge_manifests(existing, planned)
            merged["owner"] = _owner(self.suite, self.store.root, merged)
            self.store.write_manifest(merged)

    def _run_group(self, cells, data: TaskData, backbone: Backbone, summary, bar) -> None:
        first = cells[0]
        training = {}
        try:
            model, reused, training, train_seconds = self._obtain_model(first, data, backbone)
        except (Exception, SystemExit) as error:  # the whole group fails, the suite goes on
            for cell in cells:
                with self.store.lock(cell.cell_id):
                    if self.store.is_finished(cell.cell_id):  # another process did it
                        summary.reused.append(cell.cell_id)
                    else:
                        self._write_failed(cell, data, error, summary)
                bar.update()
            return
        busy = []
        for cell in cells:
            lock = self.store.lock(cell.cell_id)
            try:
                lock.acquire(timeout=0)
            except Timeout:  # another process is computing it: come back to it at the end
                busy.append(cell)
                continue
            try:
                self._run_cell(cell, model, data, reused, training, train_seconds, summary)
            finally:
                lock.release()
            bar.update()
        for cell in busy:
            with self.store.lock(cell.cell_id):  # wait for the other process
                self._run_cell(cell, model, data, reused, training, train_seconds, summary)
            bar.update()

    def _run_cell(self, cell, model, data, reused, training, train_seconds, summary) -> None:
        """Compute one cell and write its record; called holding the cell's lock."""
        if self.store.is_finished(cell.cell_id):  # finished by another process
            summary.reused.append(cell.cell_id)
            return
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
            inputs={label: self._files_of(source) for label, source in cell.sources},
        )
        try:
            result = cell.attack.plugin.run(model, context)
            untrusted = sorted(k for k, v in result.metrics.items() if not math.isfinite(v))
            if untrusted:
                raise ValueError(
                    f"metric {untrusted[0]} is {result.metrics[untrusted[0]]}: a number that "
                    "cannot be trusted is not recorded"
                )
        except (Exception, SystemExit) as error:
            self._write_failed(cell, data, error, summary, training=training)
            return
        record = self._record(cell, data, "ok")
        record.metrics = result.metrics
        record.columns = list(result.columns)
        record.n_examples = result.n_examples
        record.outcomes = self.store.write_outcomes(cell.cell_id, result.outcomes.to_json())
        record.artifacts = result.artifacts
        record.notes = [*result.notes, *cell.recipe.plugin.notes()]
        record.checkpoint_reused = reused
        record.training = training
        record.timings = {
            "train_seconds": round(train_seconds, 2),
            "attack_seconds": round(time.perf_counter() - started, 2),
        }
        self.store.write(record)
        summary.computed.append(cell.cell_id)

    def _files_of(self, cell_id: str) -> list[Path] | None:
        """The files a finished cell wrote beside its record (None: not finished)."""
        record = self.store.load(cell_id)
        if record is None or record.status != "ok":
            return None
        return [self.store.records_dir / name for name in record.artifacts]

    def _obtain_model(
        self, cell: Cell, data: TaskData, backbone: Backbone
    ) -> tuple[Classifier, bool, dict, float]:
        """Load the checkpoint of the cell's (recipe, seed), or train and save it; under the
        key's lock, so a concurrent run waits for this one's training instead of repeating it."""
        key = cell.checkpoint_key
        with self.checkpoints.lock(key):
            if self.checkpoints.exists(key):
                meta = self.checkpoints.meta(key)
                model = self.checkpoints.load(key, self.device)
                return model, True, meta["training"], meta["seconds"]
            started = time.perf_counter()
            context = TrainContext(self.suite.task, data, backbone, cell.seed, self.device)
            model = cell.recipe.plugin.train(context)
            check_finite(model, f"recipe {cell.recipe.label} seed {cell.seed}")
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

    def _write_failed(self, cell, data, error: BaseException, summary, training=None) -> None:
        record = self._record(cell, data, "failed")
        record.error = "".join(traceback.format_exception(error)).strip()
        if isinstance(error, SystemExit):
            record.error += f"\nSystemExit: the plugin called sys.exit({error.code!r})"
        record.training = training or {}
        self.store.write(record)
        summary.failed.append(cell.cell_id)
        message = f"{type(error).__name__}: {error}".splitlines()[0]
        write(f"[{self.suite.config.name}] {cell.cell_id}: FAILED ({message})")
