"""The Ray executor: the same records as the local one, resume, crashed workers, bad addresses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from robustbench_nlp.cli import main
from robustbench_nlp.core.registry import include
from robustbench_nlp.run.runner import Runner
from robustbench_nlp.run.store import ResultsStore
from robustbench_nlp.run.suite import load_suite
from tests.helpers import missing
from tests.test_word_attacks import need

try:
    import ray  # noqa: F401

    HAVE_RAY = True
except ImportError:  # pragma: no cover - CI installs it
    HAVE_RAY = False

#: Record fields that may differ between executors: when and how long, not what.
VOLATILE = ("timings", "created_at", "peak_memory_mib")

CRASH_PLUGIN = '''
"""Test plugin: an attack whose cell kills the process that computes it."""
import os
from robustbench_nlp import Attack, register_attack

@register_attack("crash")
class Crash(Attack):
    """Kills its worker process."""

    def run(self, model, context):
        os._exit(3)
'''


@pytest.fixture(autouse=True)
def ray_installed():
    if not HAVE_RAY:
        missing("ray is not installed: pip install 'robustbench-nlp[ray]'")


def write_suite(folder: Path, attacks: str, name: str = "t") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    suite = folder / "suite.yaml"
    suite.write_text(
        f"name: {name}\nbackbone: tiny\n"
        "task: {name: embedded, params: {train_size: 32, eval_size: 12}}\n"
        "recipes:\n"
        "  - {name: baseline, label: A, params: {max_steps: 4, batch_size: 4}}\n"
        "  - {name: baseline, label: B, params: {max_steps: 2, batch_size: 4, lr: 1.0e-3}}\n"
        f"seeds: [0]\nattacks:\n{attacks}"
        f"output: {folder / 'out'}\ncheckpoint_dir: {folder / 'checkpoints'}\n"
        "ray: {num_cpus: 1, local_cpus: 2, max_retries: 1}\n"
    )
    return suite


def records(out: Path) -> dict[str, dict]:
    store = ResultsStore(out)
    found = {}
    for cell in store.manifest()["cells"]:
        data = json.loads(store.record_path(cell).read_text())
        for key in VOLATILE:
            data.pop(key, None)
        for phase in data["training"].values():  # how long each training phase took
            phase.pop("seconds", None)
        found[cell] = data
    return found


def files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "records").glob("*")) if p.is_file()}


ATTACKS = (
    "  - {name: pgd, params: {eps: [0.0, 1.0], steps: 2}}\n"
    "  - {name: deepwordbug, label: DWB}\n"
    "  - {name: transfer, params: {attack: DWB}}\n"
)


def test_ray_gives_the_local_executors_records_and_resumes(tmp_path):
    need("stopwords", "wordnet", "textattack-cache")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each Ray task (num_cpus 1) pins itself
    try:
        local = Runner(load_suite(write_suite(tmp_path / "local", ATTACKS)), None).run()
    finally:
        torch.set_num_threads(threads)
    path = write_suite(tmp_path / "ray", ATTACKS)
    distributed = Runner(load_suite(path), None, executor="ray").run()
    assert not local.failed and not distributed.failed
    assert sorted(local.computed) == sorted(distributed.computed)
    assert len(distributed.computed) == 2 * 4  # clean, pgd, DWB, transfer for A and B
    assert records(tmp_path / "local" / "out") == records(tmp_path / "ray" / "out")
    local_files = files(tmp_path / "local" / "out")
    ray_files = files(tmp_path / "ray" / "out")
    outcomes = [n for n in local_files if n.endswith((".outcomes.json", ".adv.jsonl"))]
    assert outcomes and all(local_files[n] == ray_files[n] for n in outcomes)
    peaks = [
        json.loads(text)["peak_memory_mib"]
        for name, text in ray_files.items()
        if name.endswith(".json") and not name.endswith(".outcomes.json")
    ]
    assert len(peaks) == 8 and all(peak > 0 for peak in peaks)  # each cell's own peak

    # Resume: a lost record is recomputed, nothing else, and no model is trained again.
    store = ResultsStore(tmp_path / "ray" / "out")
    lost = next(c for c in store.manifest()["cells"] if "__dwb-transfer__" in c)
    store.record_path(lost).unlink()
    again = Runner(load_suite(path), None, executor="ray").run()
    assert again.computed == [lost] and len(again.reused) == 7
    assert json.loads(store.record_path(lost).read_text())["checkpoint_reused"] is True


def test_a_worker_that_dies_is_retried_then_recorded_failed(tmp_path):
    plugin = tmp_path / "crash.py"
    plugin.write_text(CRASH_PLUGIN)
    include(plugin)  # an --include plugin: its class travels to the workers by value
    path = write_suite(tmp_path, "  - {name: crash}\n")
    summary = Runner(load_suite(path), None, executor="ray").run()
    assert len(summary.failed) == 2 and len(summary.computed) == 2  # crash fails, clean is ok
    store = ResultsStore(tmp_path / "out")
    failed = [store.load(c) for c in summary.failed]
    assert all(r.status == "failed" and "crash" in r.cell_id for r in failed)
    assert all("died" in (r.error or "") or "exited" in (r.error or "") for r in failed)


def test_an_unreachable_cluster_fails_in_one_line_with_nothing_written(tmp_path, capsys):
    path = write_suite(tmp_path, "  - {name: clean}\n")
    code = main(["run", str(path), "--executor", "ray", "--ray-address", "127.0.0.1:9"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "no Ray cluster answers at 127.0.0.1:9" in err and "ray start --head" in err
    assert not (tmp_path / "out").exists()


def test_ray_address_without_the_ray_executor_is_refused(tmp_path, capsys):
    path = write_suite(tmp_path, "  - {name: clean}\n")
    assert main(["run", str(path), "--ray-address", "auto"]) == 2
    assert "--ray-address needs --executor ray" in capsys.readouterr().err
