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

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from filelock import Timeout

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.files import atomic_write_text, writable_folder_problem
from robustbench_nlp.core.progress import make_progress, write
from robustbench_nlp.model.backbones import resolve_backbone
from robustbench_nlp.model.checkpoints import CheckpointStore, default_checkpoint_dir
from robustbench_nlp.run.cells import Cell, by_checkpoint, plan, preflight
from robustbench_nlp.run.compute import CellWorker, Computed, Trained
from robustbench_nlp.run.store import (
    ResultsStore,
    manifest_conflict,
    merge_manifests,
    settings_hash,
)
from robustbench_nlp.run.suite import Suite
from robustbench_nlp.tasks.base import TaskData

#: The ways to run a suite's cells (``--executor``).
EXECUTORS = ("local", "ray")


@dataclass
class RunSummary:
    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


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
            {
                "label": v.label,
                "name": v.plugin.plugin_name,
                "params": v.plugin.params(),
                **({} if v.seeds is None else {"seeds": list(v.seeds)}),
            }
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


class Runner:
    """The driver of a suite's run: checks, the manifest, the cells in order, and every
    record written (by this process only, whatever the executor)."""

    def __init__(
        self,
        suite: Suite,
        data_dir: Path | None,
        force: bool = False,
        data: TaskData | None = None,
        executor: str = "local",
        ray_address: str | None = None,
    ) -> None:
        self.suite = suite
        self.data_dir = data_dir
        #: Take the results folder over even if it belongs to another suite.
        self.force = force
        #: The task's data when the caller loaded it already (the command line does, to report
        #: a bad data file before importing torch).
        self.data = data
        if executor not in EXECUTORS:
            raise UserError(f"--executor {executor}: choose one of {', '.join(EXECUTORS)}.")
        self.executor = executor
        #: ``--ray-address``: overrides the suite's ``ray.address``.
        self.ray_address = ray_address
        self.store = ResultsStore(suite.output)
        root = suite.checkpoint_dir
        self.worker = CellWorker(suite, data_dir, "cpu", root if root else default_checkpoint_dir())

    @property
    def checkpoints(self) -> CheckpointStore:
        return self.worker.checkpoints

    def run(self) -> RunSummary:
        # Everything that can fail on bad input happens before anything is written.
        self.worker.device = pick_device(self.suite.config.device)
        check_folders(self.suite, self.worker.checkpoint_root)
        if not self.force:
            check_ownership(self.suite, self.store)
        checked = preflight(self.suite, self.data_dir, self.data)
        data = checked.data
        resolve_backbone(self.suite.config.backbone)  # a missing backbone fails here, at once
        cells = plan(self.suite, checked)
        planned = manifest(self.suite, cells)
        for cell in cells:  # refuse a foreign record before anything is written
            self.store.load_checked(cell.cell_id, planned)
        if self.executor == "ray":
            from robustbench_nlp.run.ray_executor import RayExecutor

            executor = RayExecutor(self, self.ray_address or self.suite.config.ray.address)
            executor.start()  # a cluster that cannot be reached fails before anything is written
        self._write_manifest(planned)
        summary = RunSummary()
        bar = make_progress(len(cells), f"suite {self.suite.config.name}", unit="cell")
        try:
            if self.executor == "ray":
                executor.run(cells, data, summary, bar)
            else:
                self._run_local(cells, data, summary, bar)
        finally:
            bar.close()
        return summary

    def _run_local(self, cells: list[Cell], data: TaskData, summary, bar) -> None:
        for group in by_checkpoint(cells):
            pending = self.pending(group, summary, bar)
            if pending:
                self._run_group(pending, data, summary, bar)

    def pending(self, group: list[Cell], summary: RunSummary, bar) -> list[Cell]:
        """The cells of ``group`` still to compute; the finished ones count as reused."""
        pending = [c for c in group if not self.store.is_finished(c.cell_id)]
        summary.reused += [c.cell_id for c in group if c not in pending]
        bar.update(len(group) - len(pending))
        return pending

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

    def _run_group(self, cells, data: TaskData, summary, bar) -> None:
        try:
            model, trained = self.worker.obtain_model(cells[0], data)
        except (Exception, SystemExit) as error:  # the whole group fails, the suite goes on
            for cell in cells:
                with self.store.lock(cell.cell_id):
                    self.land(self.worker.failed(cell, data, error), summary)
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
                self._run_cell(cell, model, data, trained, summary)
            finally:
                lock.release()
            bar.update()
        for cell in busy:
            with self.store.lock(cell.cell_id):  # wait for the other process
                self._run_cell(cell, model, data, trained, summary)
            bar.update()

    def _run_cell(self, cell: Cell, model, data: TaskData, trained: Trained, summary) -> None:
        """Compute one cell and write its record; called holding the cell's lock."""
        if self.store.is_finished(cell.cell_id):  # finished by another process
            summary.reused.append(cell.cell_id)
            return
        self.announce(cell)
        inputs = {label: self.files_of(source) for label, source in cell.sources}
        computed = self.worker.compute(cell, model, data, trained, self.store.records_dir, inputs)
        self.land(computed, summary)

    def announce(self, cell: Cell) -> None:
        write(f"[{self.suite.config.name}] {cell.cell_id}: running")

    def land(self, computed: Computed, summary: RunSummary) -> None:
        """Write a computed cell: its files, its outcomes, then its record (each atomically;
        the record last, so a record never points at a file that is not there). A cell that
        another process finished meanwhile is left as it is."""
        record = computed.record
        if self.store.is_finished(record.cell_id):
            summary.reused.append(record.cell_id)
            return
        for name, text in (computed.artifacts or {}).items():
            atomic_write_text(self.store.records_dir / name, text)
        if computed.outcomes is not None:
            record.outcomes = self.store.write_outcomes(record.cell_id, computed.outcomes)
        self.store.write(record)
        if record.status == "ok":
            summary.computed.append(record.cell_id)
        else:
            summary.failed.append(record.cell_id)
            write(f"[{self.suite.config.name}] {record.cell_id}: FAILED ({computed.message})")

    def files_of(self, cell_id: str) -> list[Path] | None:
        """The files a finished cell wrote beside its record (None: not finished)."""
        record = self.store.load(cell_id)
        if record is None or record.status != "ok":
            return None
        return [self.store.records_dir / name for name in record.artifacts]
