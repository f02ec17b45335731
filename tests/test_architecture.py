"""The package's architecture, checked: layers point down only, no import cycle, and the
record store and the leaderboard name no plugin."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path
from typing import get_args

import grimp

from robustbench_nlp.core.metrics import Role
from robustbench_nlp.run.plugins import REGISTRIES
from tests.conftest import REPO

PACKAGE = REPO / "robustbench_nlp"


def test_import_linter_layers_contract_is_kept():
    command = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    done = subprocess.run([command], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Contracts: 1 kept, 0 broken." in done.stdout


def test_no_module_imports_itself_in_a_circle():
    """No cycle at all, counting imports inside functions (grimp sees those too)."""
    graph = grimp.build_graph("robustbench_nlp")
    imports = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    cycles = [
        (module, imported)
        for module in sorted(imports)
        for imported in imports[module]
        if graph.find_shortest_chain(importer=imported, imported=module)
    ]
    assert not cycles, cycles


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def test_store_and_report_name_no_plugin():
    """Only the vocabulary of ``core.metrics`` (the metric roles) may coincide with a plugin
    name (the ``clean`` evaluation and the ``clean`` role): the store and every module of the
    report (the board, its tables, pages and figures) render records, never plugins."""
    names = {name for registry in REGISTRIES.values() for name in registry.names()}
    allowed = set(get_args(Role))
    report = sorted(str(p.relative_to(PACKAGE)) for p in (PACKAGE / "report").glob("*.py"))
    assert "report/figures.py" in report
    for module in ("run/store.py", *report):
        named = (_string_constants(PACKAGE / module) & names) - allowed
        assert not named, f"{module} names plugins {sorted(named)}"
