"""Memory per cell in the local executor: a suite with many cells does not grow it.

Run with ``pytest tests/benchmarks/test_memory_per_cell.py --benchmark-only -s``. Twelve models
(a sweep of six learning rates, two seeds) of the tiny backbone, each with a clean, a PGD and an
another-test-set cell (36 cells); every record stores its cell's peak resident memory
(``peak_memory_mib``: the process's high-water mark, reset as the cell starts). If a model,
its optimiser or a dataset stayed alive after its cells, the later cells' peaks would climb.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from robustbench_nlp.run.runner import Runner
from robustbench_nlp.run.suite import load_suite


def test_peak_memory_per_cell_does_not_grow_with_the_cells(benchmark, tmp_path: Path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: memory\nbackbone: tiny\n"
        "task: {name: embedded, params: {train_size: 64, eval_size: 32}}\n"
        "recipes:\n  - name: baseline\n    params: {max_steps: 4, batch_size: 8}\n"
        "    sweep: {lr: [1.0e-5, 2.0e-5, 5.0e-5, 1.0e-4, 2.0e-4, 5.0e-4]}\n"
        "attacks:\n  - {name: pgd, params: {eps: [0.0, 1.0], steps: 3}}\n"
        "  - {name: eval_task, params: {task: embedded}}\n"
        f"seeds: [0, 1]\noutput: {tmp_path / 'out'}\ncheckpoint_dir: {tmp_path / 'ck'}\n"
    )
    summary = benchmark.pedantic(lambda: Runner(load_suite(suite), None).run(), rounds=1)
    assert len(summary.computed) == 36 and not summary.failed
    records = sorted(
        (
            json.loads(p.read_text())
            for p in (tmp_path / "out" / "records").glob("*.json")
            if not p.name.endswith(".outcomes.json")
        ),
        key=lambda r: r["created_at"],
    )
    peaks = [r["peak_memory_mib"] for r in records]
    quarter = len(peaks) // 4
    first, last = statistics.fmean(peaks[:quarter]), statistics.fmean(peaks[-quarter:])
    benchmark.extra_info.update(
        first_quarter_peak_mib=round(first, 1), last_quarter_peak_mib=round(last, 1)
    )
    print(f"\npeak memory per cell: first quarter {first:.1f} MiB, last quarter {last:.1f} MiB")
    assert last <= first * 1.05 + 10, peaks
