"""The command line answers at once: ``--help``, ``list``, ``leaderboard`` and bad input import
no torch, transformers or textattack (each case runs in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_bad_input import GOOD, sst2_folder

REPO = Path(__file__).resolve().parent.parent
PROBE = """
import json, sys
from robustbench_nlp.cli import main
try:
    code = main(json.loads(sys.argv[1]))
except SystemExit as stop:
    code = stop.code
heavy = [m for m in ("torch", "transformers", "textattack") if m in sys.modules]
print(json.dumps({"code": code, "heavy": heavy}))
"""


def run_cli(argv: list[str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def suite(tmp_path: Path, old: str = "", new: str = "", task: str = "embedded") -> str:
    path = tmp_path / "suite.yaml"
    path.write_text(GOOD.format(task=task, output=tmp_path / "out").replace(old, new))
    return str(path)


CASES = {
    "help": lambda tmp: (["--help"], 0),
    "list": lambda tmp: (["list"], 0),
    "list-one": lambda tmp: (["list", "attacks", "textfooler"], 0),
    "list-unknown": lambda tmp: (["list", "recipes", "basline"], 2),
    "include-missing": lambda tmp: (["list", "--include", str(tmp / "nope.py")], 2),
    "leaderboard": lambda tmp: (
        ["leaderboard", str(REPO / "leaderboard" / "sst2"), "--out", str(tmp / "board")],
        0,
    ),
    "leaderboard-missing": lambda tmp: (["leaderboard", str(tmp / "nowhere")], 2),
    "malformed-yaml": lambda tmp: (["run", suite(tmp, "seeds: [0]", "seeds: [0")], 2),
    "unknown-key": lambda tmp: (["run", suite(tmp, "seeds:", "sedes:")], 2),
    "unknown-recipe": lambda tmp: (["run", suite(tmp, "baseline", "basline")], 2),
    "unknown-attack": lambda tmp: (["run", suite(tmp, "name: pgd", "name: textfoolr")], 2),
    "bad-param-value": lambda tmp: (["run", suite(tmp, "max_steps: 1", "max_steps: 1, lr: -1")], 2),
    "bad-param-name": lambda tmp: (["run", suite(tmp, "steps: 1}", "stepz: 1}")], 2),
    "bad-attack-value": lambda tmp: (["run", suite(tmp, "eps: [0.0, 0.1]", "eps: []")], 2),
    "bad-set": lambda tmp: (["run", suite(tmp), "--set", "recipes.baseline.params.lr=fast"], 2),
    "missing-data-dir": lambda tmp: (
        ["run", suite(tmp, task="sst2"), "--data-dir", str(tmp / "nowhere")],
        2,
    ),
    "bad-data-file": lambda tmp: (
        [
            "run",
            suite(tmp, task="sst2"),
            "--data-dir",
            str(sst2_folder(tmp, "label\tsentence\n1\tgood\n7\tbad\n")),
        ],
        2,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_answers_without_importing_torch(tmp_path, case):
    argv, code = CASES[case](tmp_path)
    result = run_cli(argv)
    assert result["code"] == code
    assert result["heavy"] == [], f"{' '.join(argv)} imported {', '.join(result['heavy'])}"
