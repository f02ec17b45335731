"""The Ray executor: a suite's cells as Ray tasks, on a local instance or an existing cluster.

Training a (recipe, seed) is one task and each of its cells a task that depends on it; a
replaying cell (transfer) also depends on the cells it reads. The trained model is shared
through the checkpoint store, not through Ray's object store: the store already is where a
model lives between runs (resume, reuse across suites), it is written once under the key's lock
and read by any number of cell tasks, and it survives the cluster (the object store is lost at
shutdown and would hold a second copy of every model). So on a cluster the checkpoint store
(``checkpoint_dir:``) and the results folder must be one shared path (NFS, a mounted bucket)
that every node sees under the same name.

Workers never write the results folder: a cell task returns its record, outcomes and files
(``compute.Computed``) and the driver writes them, atomically and under the cell's lock, as each
task finishes; the driver shows progress over the whole grid. A task whose worker process dies
is retried ``ray.max_retries`` times by Ray and then recorded as failed with the error; an
exception inside a cell is a failed record at once, as with the local executor. Tasks ask for
``ray.num_cpus`` CPUs and ``ray.num_gpus`` GPUs, and each pins torch to its CPUs, so a cell's
numbers do not depend on how many tasks share a node (a local run with the same number of torch
threads gives identical records, apart from timings).

Ray is imported only here (``pip install 'robustbench-nlp[ray]'``).
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.progress import write
from robustbench_nlp.run.cells import Cell, by_checkpoint
from robustbench_nlp.run.compute import CellWorker, Computed, Trained, describe_error
from robustbench_nlp.run.store import ResultsStore
from robustbench_nlp.run.suite import Suite
from robustbench_nlp.tasks.base import TaskData


class Driver(Protocol):
    """What the executor needs of the runner (``run.runner.Runner``)."""

    suite: Suite
    store: ResultsStore
    worker: CellWorker

    def land(self, computed: Computed, summary: Any) -> None: ...

    def files_of(self, cell_id: str) -> list[Path] | None: ...

    def pending(self, group: list[Cell], summary: Any, bar) -> list[Cell]: ...


#: Modules of plugins loaded with ``--include`` (``core.registry.include``): not importable by
#: name on a worker, so their classes travel by value.
INCLUDED_PREFIX = "robustbench_nlp_plugin_"


@dataclass
class TrainingFailed:
    """A (recipe, seed) whose training raised: its cells are recorded failed with this."""

    error: str
    message: str


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UserError(
            "--executor ray: Ray is not installed; pip install 'robustbench-nlp[ray]' (or "
            "ray) into this environment."
        ) from None
    return ray


def _prepare(worker: CellWorker, cpus: float) -> None:
    """Pin torch to the task's CPUs, and give the suite's plugin classes their registered names
    (a registry sets ``plugin_name`` as it hands a class out; a worker imports the classes
    afresh, outside any registry, and the records name their plugins)."""
    import torch

    torch.set_num_threads(max(1, int(cpus)))
    for cls, name in worker.plugin_names:
        if not cls.plugin_name:
            cls.plugin_name = name


#: The model a worker process loaded last, kept for the next cell of the same checkpoint.
_loaded: dict[str, Any] = {}


def _model(worker: CellWorker, cell: Cell, data: TaskData):
    if cell.checkpoint_key not in _loaded:
        _loaded.clear()
        _loaded[cell.checkpoint_key] = worker.obtain_model(cell, data)[0]
    return _loaded[cell.checkpoint_key]


def train_task(worker: CellWorker, data: TaskData, cell: Cell, cpus: float):
    """Make sure the checkpoint of ``cell``'s (recipe, seed) is in the store."""
    _prepare(worker, cpus)
    try:
        _, trained = worker.obtain_model(cell, data)
    except (Exception, SystemExit) as error:
        return TrainingFailed(*describe_error(error))
    return trained


def cell_task(
    worker: CellWorker,
    data: TaskData,
    cell: Cell,
    trained: Trained | TrainingFailed,
    cpus: float,
    labels: list[str],
    *sources: Computed | list[Path] | None,
) -> Computed:
    """Compute one cell in a temporary folder; the driver writes what it returns."""
    _prepare(worker, cpus)
    if isinstance(trained, TrainingFailed):
        return worker.failed_with(cell, data, trained.error, trained.message)
    model = _model(worker, cell, data)
    with tempfile.TemporaryDirectory(prefix="rbnlp-cell-") as folder:
        root = Path(folder)
        inputs: dict[str, list[Path] | None] = {}
        for label, source in zip(labels, sources, strict=True):
            if isinstance(source, Computed):  # computed in this run: its files travel with it
                if source.record.status != "ok":
                    inputs[label] = None
                    continue
                own = root / "inputs" / label
                own.mkdir(parents=True, exist_ok=True)
                for name, text in (source.artifacts or {}).items():
                    (own / name).write_text(text, encoding="utf-8")
                inputs[label] = [own / name for name in source.artifacts or {}]
            else:  # finished before this run: in the (shared) results folder
                inputs[label] = source
        return worker.compute(cell, model, data, trained, root, inputs, collect_artifacts=True)


def unreachable(address: str | None, timeout: float = 5.0) -> str | None:
    """Why ``host:port`` (or ``ray://host:port``) cannot be reached, at once; None when it
    can, or when the address is no host and port (``auto``, unset: Ray itself decides). Ray
    would otherwise retry an unreachable address for minutes."""
    if not address or address in ("auto", "local"):
        return None
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return None
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return None
    except OSError as error:
        return error.strerror or str(error) or type(error).__name__


class RayExecutor:
    def __init__(self, runner: Driver, address: str | None) -> None:
        self.runner = runner
        self.address = address
        self.spec = runner.suite.config.ray
        self.ray = _import_ray()

    def start(self) -> None:
        """Connect to the cluster at ``address``, or start a local instance."""
        ray = self.ray
        problem = unreachable(self.address)
        if problem:
            raise UserError(
                f"--executor ray: no Ray cluster answers at {self.address} ({problem}); start one "
                "with `ray start --head` and pass the address it prints, or leave it unset for "
                "a local instance."
            )
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline: no usage reports
        for name, module in list(sys.modules.items()):
            if name.startswith(INCLUDED_PREFIX):  # Ray serialises with its own cloudpickle
                ray.cloudpickle.register_pickle_by_value(module)
        options: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": "ERROR",
            "ignore_reinit_error": True,
        }
        if self.address is None and self.spec.local_cpus is not None:
            options["num_cpus"] = self.spec.local_cpus
        try:
            ray.init(address=self.address, **options)
        except (ConnectionError, RuntimeError, ValueError) as error:
            where = self.address or "a local instance"
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
            raise UserError(
                f"--executor ray: cannot start or reach Ray at {where} ({first}); start a "
                "cluster with `ray start --head` and pass its address with --ray-address, or "
                "leave it unset for a local instance."
            ) from None

    def run(self, cells: list[Cell], data: TaskData, summary: Any, bar) -> None:
        ray, spec, runner = self.ray, self.spec, self.runner
        store = runner.store
        options = {
            "num_cpus": spec.num_cpus,
            "num_gpus": spec.num_gpus,
            "max_retries": spec.max_retries,
        }
        train = ray.remote(train_task).options(**options)
        measure = ray.remote(cell_task).options(**options)
        worker_ref, data_ref = ray.put(runner.worker), ray.put(data)
        by_id: dict[str, Any] = {}
        waiting: dict[Any, Cell] = {}
        try:
            for group in by_checkpoint(cells):
                pending = runner.pending(group, summary, bar)
                if not pending:
                    continue
                trained = train.remote(worker_ref, data_ref, pending[0], spec.num_cpus)
                for cell in pending:
                    labels = [label for label, _ in cell.sources]
                    sources = [
                        by_id[source] if source in by_id else runner.files_of(source)
                        for _, source in cell.sources
                    ]
                    ref = measure.remote(
                        worker_ref, data_ref, cell, trained, spec.num_cpus, labels, *sources
                    )
                    by_id[cell.cell_id] = ref
                    waiting[ref] = cell
            while waiting:
                done, _ = ray.wait(list(waiting), num_returns=1)
                for ref in done:
                    cell = waiting.pop(ref)
                    try:
                        computed = ray.get(ref)
                    except Exception as error:  # the worker died (after retries), or Ray failed
                        computed = runner.worker.failed(cell, data, error)
                    with store.lock(cell.cell_id):
                        runner.land(computed, summary)
                    if computed.record.status == "ok":
                        write(f"[{runner.suite.config.name}] {cell.cell_id}: done")
                    bar.update()
        except KeyboardInterrupt:
            for ref in waiting:
                ray.cancel(ref, force=True)
            raise
        finally:
            ray.shutdown()
