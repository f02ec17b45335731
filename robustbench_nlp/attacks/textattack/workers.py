"""Worker processes shared by every word-attack cell of one process.

A spawned worker costs seconds before it attacks anything: it imports torch, transformers and
TextAttack and builds the attack's resources. Measured on the trained SST-2 baseline, that
fixed cost (about 7 s a cell with two workers) was as large as a 20-example cell's attacks. So
a process keeps one pool per (worker count, threads per worker, resources folder) for its
lifetime, and every word-attack cell reuses it:

- the pool is made on first use and shut down when the process exits;
- a cell hands its model over once: the parent writes it to a temporary file
  (``CellModel``), and a worker loads it the first time a task of that cell reaches it, then
  keeps that one attack session until a task of another cell arrives (one model in memory per
  worker, never more);
- results do not depend on which worker attacks which example: each example is attacked from
  its own seed, in a session whose query cache holds that cell's model only.

A worker that dies breaks its pool; the pool is then dropped and the next cell starts a new one.
"""

from __future__ import annotations

import atexit
import os
import tempfile
import uuid
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from robustbench_nlp.resources.layout import RESOURCES_ENV, layout, resources_dir
from robustbench_nlp.tasks.base import Example

_POOLS: dict[tuple[int, int, str], ProcessPoolExecutor] = {}
#: Pools started in this process (a test reads it to see that cells share one).
started = 0


@dataclass(frozen=True)
class CellSpec:
    """What a worker needs to attack examples of one cell (small: sent with every task)."""

    token: str
    model_path: str
    builder: str
    params: dict = field(hash=False)


class CellModel:
    """The model of one cell, saved once for the workers to load (deleted by ``close``)."""

    def __init__(self, model, builder: str, params: dict) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="rbnlp-attack-")
        path = Path(self._folder.name) / "model.pt"
        torch.save(model, path)
        self.spec = CellSpec(uuid.uuid4().hex, str(path), builder, params)

    def close(self) -> None:
        self._folder.cleanup()


def threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


def pool(workers: int) -> ProcessPoolExecutor:
    """The process's pool of ``workers`` spawned workers (made on first use)."""
    global started
    key = (workers, threads_per_worker(workers), str(resources_dir()))
    if key not in _POOLS:
        spawn = torch.multiprocessing.get_context("spawn")  # fork is unsafe after torch
        _POOLS[key] = ProcessPoolExecutor(workers, spawn, _init_worker, key[1:])
        started += 1
    return _POOLS[key]


def submit(workers: int, cell: CellSpec, jobs: list[tuple[str, Example, int]]) -> list[Future]:
    executor = pool(workers)
    try:
        return [executor.submit(_work, cell, *job) for job in jobs]
    except BrokenProcessPool:
        discard(executor)
        raise


def discard(executor: ProcessPoolExecutor) -> None:
    """Drop a pool (a worker died): the next cell starts a new one."""
    for key, value in list(_POOLS.items()):
        if value is executor:
            del _POOLS[key]
    executor.shutdown(wait=False, cancel_futures=True)


@atexit.register
def shutdown_all() -> None:
    for executor in list(_POOLS.values()):
        executor.shutdown(wait=False, cancel_futures=True)
    _POOLS.clear()


# -- inside a worker --------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(threads: int, root: str) -> None:
    torch.set_num_threads(threads)
    os.environ[RESOURCES_ENV] = root
    os.environ.setdefault("TQDM_DISABLE", "1")
    try:  # import TextAttack once for the worker's lifetime
        from robustbench_nlp.attacks.textattack.offline import offline_textattack

        offline_textattack()
    except Exception as error:  # raised by every task, so the parent sees the message
        _WORKER["error"] = error


def _session(cell: CellSpec):
    if _WORKER.get("token") != cell.token:
        from robustbench_nlp.attacks.textattack.components import Session

        _WORKER.pop("session", None)  # free the previous cell's model first
        model = torch.load(cell.model_path, weights_only=False)
        _WORKER["session"] = Session(model.eval(), cell.builder, layout(), cell.params)
        _WORKER["token"] = cell.token
        _WORKER["forwarded"] = 0
    return _WORKER["session"]


def _work(cell: CellSpec, key: str, row: Example, seed: int) -> tuple[dict, int]:
    from robustbench_nlp.attacks.textattack.components import attack_one

    if "error" in _WORKER:
        raise _WORKER["error"]
    session = _session(cell)
    result = attack_one(session, key, row, seed)
    forwarded = session.wrapper.forwarded - _WORKER["forwarded"]
    _WORKER["forwarded"] = session.wrapper.forwarded
    return result, forwarded
