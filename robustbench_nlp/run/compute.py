"""Computing one cell, apart from landing it: what every executor's worker does.

``CellWorker`` holds what a cell's computation needs (the suite, the data folder, the device,
the checkpoint store, the library versions) and nothing that belongs to the results folder's
driver, so the same object runs in the runner's own process (local executor) and, pickled,
in a Ray worker. It obtains a (recipe, seed)'s model (from the checkpoint store, or trained and
saved there under the key's lock) and computes a cell into a ``Computed``: the record, its
outcomes and the files the measurement wrote. Only the driver writes records (``land``), so a
results folder is written by one process per run, atomically, whatever the executor.

Each cell also records its peak memory: the process's resident-set high-water mark over the
cell (Linux: ``VmHWM``, reset through ``/proc/self/clear_refs`` as the cell starts; elsewhere the
process's peak so far, which can only overstate it).
"""

from __future__ import annotations

import contextlib
import math
import platform
import resource
import sys
import time
import traceback
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from robustbench_nlp.measure.base import MeasureContext
from robustbench_nlp.model.backbones import resolve_backbone
from robustbench_nlp.model.checkpoints import CheckpointStore
from robustbench_nlp.model.classifier import Classifier
from robustbench_nlp.recipes.base import TrainContext, check_finite
from robustbench_nlp.run.cells import Cell, plugin_identity
from robustbench_nlp.run.store import PluginRecord, Record
from robustbench_nlp.run.suite import Suite
from robustbench_nlp.tasks.base import TaskData


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("robustbench-nlp", "torch", "transformers", "textattack"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


@dataclass
class Trained:
    """How a (recipe, seed)'s model came to be: what its cells' records say of training."""

    reused: bool
    logs: dict
    seconds: float


@dataclass
class Computed:
    """A cell's result, not yet written: the record, its outcomes (JSON text) and the files
    its measurement wrote (name -> text; None when they already lie in the records folder)."""

    record: Record
    outcomes: str | None = None
    artifacts: dict[str, str] | None = None
    message: str = ""


def reset_peak_memory() -> None:
    """Start a new resident-set high-water mark (Linux), so the next reading is this cell's."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_memory_mib() -> float:
    """The process's resident-set high-water mark in MiB (since ``reset_peak_memory``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


@dataclass
class CellWorker:
    suite: Suite
    data_dir: Path | None
    device: str
    checkpoint_root: Path
    versions: dict[str, str] = field(default_factory=library_versions)

    #: Each of the suite's plugin classes with its registered name, as the driver knows them
    #: (a worker process imports the classes afresh and restores them: ``ray_executor``).
    plugin_names: list[tuple[type, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.plugin_names:
            plugins = [
                self.suite.task,
                *(v.plugin for v in [*self.suite.recipes, *self.suite.attacks]),
            ]
            self.plugin_names = [(type(p), type(p).plugin_name) for p in plugins]

    @property
    def checkpoints(self) -> CheckpointStore:
        return CheckpointStore(self.checkpoint_root)

    def obtain_model(self, cell: Cell, data: TaskData) -> tuple[Classifier, Trained]:
        """Load the checkpoint of the cell's (recipe, seed), or train and save it; under the
        key's lock, so a concurrent run waits for this one's training instead of repeating it."""
        key, store = cell.checkpoint_key, self.checkpoints
        with store.lock(key):
            if store.exists(key):
                meta = store.meta(key)
                model = store.load(key, self.device)
                return model, Trained(True, meta["training"], meta["seconds"])
            started = time.perf_counter()
            backbone = resolve_backbone(self.suite.config.backbone)
            context = TrainContext(self.suite.task, data, backbone, cell.seed, self.device)
            model = cell.recipe.plugin.train(context)
            check_finite(model, f"recipe {cell.recipe.label} seed {cell.seed}")
            seconds = time.perf_counter() - started
            store.save(
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
        return model.eval(), Trained(False, context.logs, seconds)

    def compute(
        self,
        cell: Cell,
        model: Classifier,
        data: TaskData,
        trained: Trained,
        artifact_dir: Path,
        inputs: dict[str, list[Path] | None],
        collect_artifacts: bool = False,
    ) -> Computed:
        """Measure one cell; a failure becomes a failed record (the suite goes on).

        ``collect_artifacts``: read the files the measurement wrote into ``artifact_dir`` back
        into the result (a worker whose folder is not the results folder)."""
        reset_peak_memory()
        started = time.perf_counter()
        context = MeasureContext(
            task=self.suite.task,
            data=data,
            seed=cell.seed,
            device=self.device,
            data_dir=self.data_dir,
            artifact_dir=artifact_dir,
            artifact_prefix=cell.cell_id,
            label=cell.attack.label,
            inputs=inputs,
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
            return self.failed(cell, data, error, trained.logs)
        record = self.record(cell, data, "ok")
        record.metrics = result.metrics
        record.columns = list(result.columns)
        record.n_examples = result.n_examples
        record.artifacts = result.artifacts
        record.notes = [*result.notes, *cell.recipe.plugin.notes()]
        record.checkpoint_reused = trained.reused
        record.training = trained.logs
        record.timings = {
            "train_seconds": round(trained.seconds, 2),
            "attack_seconds": round(time.perf_counter() - started, 2),
        }
        record.peak_memory_mib = peak_memory_mib()
        artifacts = None
        if collect_artifacts:
            artifacts = {
                name: (artifact_dir / name).read_text(encoding="utf-8") for name in result.artifacts
            }
        return Computed(record, result.outcomes.to_json(), artifacts)

    def record(self, cell: Cell, data: TaskData, status: str) -> Record:
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

    def failed(
        self, cell: Cell, data: TaskData, error: BaseException, training: dict | None = None
    ) -> Computed:
        return self.failed_with(cell, data, *describe_error(error), training)

    def failed_with(
        self, cell: Cell, data: TaskData, error: str, message: str, training: dict | None = None
    ) -> Computed:
        """A failed record with ``error`` (a traceback) and ``message`` (its one line)."""
        record = self.record(cell, data, "failed")
        record.error = error
        record.training = training or {}
        return Computed(record, message=message)


def describe_error(error: BaseException) -> tuple[str, str]:
    """The traceback a failed record keeps, and the one line the run prints."""
    text = "".join(traceback.format_exception(error)).strip()
    if isinstance(error, SystemExit):
        text += f"\nSystemExit: the plugin called sys.exit({error.code!r})"
    return text, f"{type(error).__name__}: {error}".splitlines()[0]
