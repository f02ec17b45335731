"""The README's plugin example is real code: it registers, runs in a suite, and reports."""

from __future__ import annotations

import json
import re

from robustbench_nlp.cli import main
from tests.conftest import REPO


def test_readme_plugin_example_runs_in_a_suite(tmp_path, capsys):
    readme = (REPO / "README.md").read_text()
    code = re.search(r"```python\n(# my_attacks\.py\n.*?)```", readme, re.S)
    assert code, "the README has no my_attacks.py example"
    plugin = tmp_path / "my_attacks.py"
    plugin.write_text(code.group(1))
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        f"""\
name: readme
backbone: tiny
task: {{name: embedded, params: {{train_size: 16, eval_size: 8}}}}
recipes: [{{name: baseline, params: {{max_steps: 1, batch_size: 4}}}}]
attacks: [{{name: word_dropout, label: Dropout, params: {{share: 0.5}}}}]
output: {tmp_path / "out"}
"""
    )
    assert main(["run", str(suite), "--include", str(plugin)]) == 0
    records = [
        json.loads(p.read_text())
        for p in (tmp_path / "out" / "records").glob("*.json")
        if ".outcomes." not in p.name
    ]
    dropout = [r for r in records if r["attack"]["name"] == "word_dropout"]
    assert len(dropout) == 1
    metrics = dropout[0]["metrics"]
    assert 0 <= metrics["accuracy"] <= metrics["clean_accuracy"] <= 1
    board = (tmp_path / "out.md").read_text()
    assert "| Dropout" in board or "Dropout |" in board
