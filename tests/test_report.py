"""``robustbench-nlp report``: the board, its HTML page and its figures, from records alone.

Rendered from copies of committed results folders (``nli`` has a verdict, every kind of figure
and detail tables of slice accuracies; ``sts`` has schema-2 records without outcomes), and from
boards made in memory for the figure rules.
"""

from __future__ import annotations

import ast
import base64
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import get_args
from urllib.parse import unquote

import pytest

from robustbench_nlp.cli import main
from robustbench_nlp.core.metrics import Role
from robustbench_nlp.report import figures, tables
from robustbench_nlp.report.board import Board
from robustbench_nlp.report.leaderboard import write_leaderboard, write_report
from robustbench_nlp.run.plugins import REGISTRIES
from robustbench_nlp.run.store import Record
from tests.conftest import REPO
from tests.test_cli_imports import run_cli

BOARD_SUFFIXES = (".md", ".csv", ".json", ".html")


def outputs(folder: Path) -> dict[str, bytes]:
    """Every file a report wrote under ``folder``, by relative path."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, Path]:
    """Copies of two committed results folders, each reported once into ``<name>-board/``."""
    root = tmp_path_factory.mktemp("report")
    folders = {}
    for name in ("nli", "sts"):
        results = root / name
        shutil.copytree(REPO / "leaderboard" / name, results)
        (root / f"{name}-board").mkdir()
        assert main(["report", str(results), "--out", str(root / f"{name}-board")]) == 0
        folders[name] = root / f"{name}-board"
    return folders


# -- the files --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["nli", "sts"])
def test_report_writes_the_board_the_page_and_the_figures(rendered, name):
    files = outputs(rendered[name])
    for suffix in BOARD_SUFFIXES:
        assert f"{name}{suffix}" in files
    pngs = [f for f in files if f.startswith(f"{name}-figures/")]
    assert pngs and all(f.endswith(".png") for f in pngs)
    assert all(files[f].startswith(b"\x89PNG\r\n\x1a\n") for f in pngs)
    assert b"Software" not in b"".join(files[f] for f in pngs)  # no version tag in the PNGs


@pytest.mark.parametrize("name", ["nli", "sts"])
def test_report_rerenders_byte_for_byte(rendered, tmp_path, name):
    assert main(["report", str(rendered[name].parent / name), "--out", str(tmp_path)]) == 0
    assert outputs(tmp_path) == outputs(rendered[name])


def test_leaderboard_is_the_same_command_as_report(rendered, tmp_path):
    assert write_leaderboard is write_report
    assert main(["leaderboard", str(rendered["sts"].parent / "sts"), "--out", str(tmp_path)]) == 0
    assert outputs(tmp_path) == outputs(rendered["sts"])


def test_markdown_matches_the_committed_board_but_for_its_figures_section(rendered):
    """The refactor of the Markdown renderer changed nothing but the new section (the committed
    .md is compared as committed: a board whose records changed since is re-rendered later)."""
    committed = subprocess.run(
        ["git", "show", "HEAD:leaderboard/sts.md"], cwd=REPO, capture_output=True, text=True
    )
    if committed.returncode != 0:
        pytest.skip("no git history to compare with")
    ours = (rendered["sts"] / "sts.md").read_text()
    assert "## Figures" in ours
    assert without_figures(ours) == without_figures(committed.stdout)


def without_figures(markdown: str) -> str:
    return re.sub(r"## Figures\n\n(!\[[^\n]*\)\n\n)+", "", markdown)


@pytest.mark.parametrize("name", ["nli", "sts"])
def test_the_markdown_links_every_figure_relative_to_its_folder(rendered, name):
    board = rendered[name]
    text = (board / f"{name}.md").read_text()
    section = text.split("## Figures\n", 1)[1].split("\n## ", 1)[0]
    links = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", section)
    pngs = sorted(p.relative_to(board).as_posix() for p in board.glob(f"{name}-figures/*.png"))
    assert sorted(unquote(link) for link in links) == pngs
    assert text.index("## Figures") < text.index("## Settings")


# -- the page ---------------------------------------------------------------------------------
class Page(HTMLParser):
    """What the self-containment check needs: every attribute, every table, every image."""

    def __init__(self) -> None:
        super().__init__()
        self.attributes: list[tuple[str, str, str]] = []
        self.tables = 0
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            self.attributes.append((tag, key, value or ""))
        if tag == "table":
            self.tables += 1
        if tag == "img":
            self.images.append(dict(attrs)["src"])


def page(board: Path, name: str) -> Page:
    parser = Page()
    parser.feed((board / f"{name}.html").read_text())
    return parser


@pytest.mark.parametrize("name", ["nli", "sts"])
def test_the_page_is_self_contained(rendered, name):
    html = page(rendered[name], name)
    linked = [(t, k, v) for t, k, v in html.attributes if k in ("src", "href")]
    assert not [a for a in linked if re.match(r"\s*(https?:)?//", a[2], re.I)]
    assert not [a for a in linked if a[0] == "script"], "no <script src>"
    assert not [a for a in linked if a[0] == "link" and not a[2].startswith("data:")]
    assert all(v.startswith(("data:", "#")) for _, _, v in linked)
    pngs = sorted((rendered[name] / f"{name}-figures").glob("*.png"))
    inline = [base64.b64decode(src.removeprefix("data:image/png;base64,")) for src in html.images]
    assert sorted(inline) == sorted(p.read_bytes() for p in pngs)  # the same bytes as the files


def test_the_page_holds_every_table_of_the_markdown_board(rendered):
    board = rendered["nli"]
    markdown = (board / "nli.md").read_text()
    html = (board / "nli.html").read_text()
    assert page(board, "nli").tables == markdown.count("\n|--")
    for heading in re.findall(r"^## (.+)$", markdown, re.M):
        if heading != "Figures":
            assert f">{heading.replace('&', '&amp;')}</h2>" in html or heading == "Notes"
    main_rows = [line for line in markdown.splitlines() if re.match(r"\|\s+\d+ \|", line)]
    first = [cell.strip() for cell in main_rows[0].strip("|").split("|")]
    for value in first[3:]:  # every cell of the first row, CI and mark included
        number = value.replace(" ▲", "").replace(" ▼", "")
        assert number in html
    assert "Newest record: <time" in html and "95% CI" in html and "Worst case" in html


def test_the_page_of_a_board_without_a_verdict_has_its_table_and_no_legend(rendered):
    html = (rendered["sts"] / "sts.html").read_text()
    assert page(rendered["sts"], "sts").tables == 1
    assert "STS avg" in html and 'class="legend"' not in html
    assert 'Newest record: <time datetime="2026-11-25T07:05:34.712285+00:00">' in html


# -- errors -----------------------------------------------------------------------------------
def test_a_folder_without_suite_json_exits_2_with_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "suite.json" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_a_file_in_the_way_of_the_figures_exits_2_and_writes_nothing(rendered, tmp_path, capsys):
    (tmp_path / "sts-figures").write_text("mine")
    assert main(["report", str(rendered["sts"].parent / "sts"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sts-figures" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sts-figures"]


def test_an_unwritable_out_exits_2_with_one_line(rendered, tmp_path, capsys):
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert main(["report", str(rendered["sts"].parent / "sts"), "--out", str(blocked / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write the board" in err


def test_a_rerender_leaves_no_stale_figure(rendered, tmp_path):
    results = rendered["sts"].parent / "sts"
    assert main(["report", str(results), "--out", str(tmp_path)]) == 0
    (tmp_path / "sts-figures" / "old.png").write_bytes(b"stale")
    assert main(["report", str(results), "--out", str(tmp_path)]) == 0
    assert outputs(tmp_path) == outputs(rendered["sts"])


def test_report_imports_no_torch_and_rendering_code_imports_matplotlib_lazily(rendered, tmp_path):
    result = run_cli(["report", str(rendered["sts"].parent / "sts"), "--out", str(tmp_path)])
    assert result == {"code": 0, "heavy": []}
    probe = (
        "import sys, robustbench_nlp.report.leaderboard, robustbench_nlp.cli;"
        "print([m for m in ('matplotlib', 'torch') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr


def test_report_modules_name_no_plugin():
    """As test_architecture checks the store: only the metric roles may match a plugin name."""
    names = {name for registry in REGISTRIES.values() for name in registry.names()}
    allowed = set(get_args(Role))
    for path in sorted((REPO / "robustbench_nlp" / "report").glob("*.py")):
        tree = ast.parse(path.read_text())
        strings = {
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
        }
        assert not (strings & names) - allowed, f"{path.name} names plugins"


# -- figure rules, on boards made in memory ---------------------------------------------------
def metric(key: str, table: str = "main", **declared) -> dict:
    return {"key": key, "table": table, "role": "robust", **declared}


def record(recipe: str, attack: str, columns: list[dict], metrics: dict[str, float]) -> Record:
    plugin = {"name": attack.lower(), "label": attack, "params": {}}
    return Record.model_validate(
        {
            "cell_id": f"{recipe}__seed0__{attack}__0",
            "suite": "t",
            "status": "ok",
            "backbone": "tiny",
            "task": {"name": "embedded", "label": "embedded", "params": {}},
            "task_source": "embedded",
            "recipe": {"name": "baseline", "label": recipe, "params": {}},
            "seed": 0,
            "attack": plugin,
            "metrics": metrics,
            "columns": columns,
        }
    )


def board(attacks: dict[str, list[dict]], recipes=("R1", "R2")) -> Board:
    """Every recipe gets every attack's columns, valued by the column's place."""
    records = [
        record(
            recipe,
            attack,
            columns,
            {c["key"]: (i + 1) / (len(columns) + 2) / (r + 1) for i, c in enumerate(columns)},
        )
        for r, recipe in enumerate(recipes)
        for attack, columns in attacks.items()
    ]
    manifest = {
        "suite": "t",
        "source": "t.yaml",
        "backbone": "tiny",
        "seeds": [0],
        "task": {"name": "embedded", "params": {}},
        "recipes": [{"label": r, "name": "baseline", "params": {}} for r in recipes],
        "attacks": [{"label": a, "name": a.lower(), "params": {}} for a in attacks],
        "cells": [r.cell_id for r in records],
    }
    return Board(manifest, records, [])


CLEAN = {"Clean": [metric("clean_accuracy", role="clean", field="correct")]}
SLICES = [
    metric(f"accuracy_r{i}", "detail", label=f"round {i}", field="correct", where=f"round={i}")
    for i in (1, 2)
]


def kinds(b: Board) -> list[tuple[str, str]]:
    return [(f.kind, f.name) for f in figures.plan(b)]


def test_a_table_of_slice_accuracies_gets_a_heatmap_and_a_mixed_one_does_not():
    mixed = [
        metric("clean_accuracy", "detail", field="clean_correct"),
        metric("avg_queries", "detail", field="queries", percent=False),
    ]
    b = board({**CLEAN, "Sets": [metric("accuracy", field="correct"), *SLICES], "Word": mixed})
    assert [name for kind, name in kinds(b) if kind == "heatmap"] == ["sets-details-heatmap"]
    heatmap = next(f for f in figures.plan(b) if f.kind == "heatmap")
    assert heatmap.rows == ("R1", "R2") and heatmap.columns == ("round 1", "round 2")
    assert heatmap.attack == "Sets" and heatmap.table == "detail"


def test_a_count_or_a_sum_of_correct_is_no_slice_accuracy():
    counts = [metric("n", "detail", field="correct", reduce="count"), *SLICES]
    assert not any(k == "heatmap" for k, _ in kinds(board({**CLEAN, "Sets": counts})))


def test_a_transfer_style_table_gets_a_heatmap_and_a_wide_one_is_transposed():
    transfer = [
        metric(f"from:{r}", "detail:transfer", label=r, field="correct", where=f"source={r}")
        for r in ("R1", "R2")
    ]
    wide = [
        metric(f"subcase/{i}", "detail:subcases", field="correct", where=f"subcase={i}")
        for i in range(tables.WIDE_TABLE + 1)
    ]
    b = board({**CLEAN, "Swap transfer": transfer, "Challenge": wide})
    maps = {f.name: f for f in figures.plan(b) if f.kind == "heatmap"}
    assert set(maps) == {"swap-transfer-transfer-heatmap", "challenge-subcases-heatmap"}
    assert maps["swap-transfer-transfer-heatmap"].columns == ("R1", "R2")
    assert maps["challenge-subcases-heatmap"].columns == ("R1", "R2")  # transposed: recipes
    assert len(maps["challenge-subcases-heatmap"].rows) == tables.WIDE_TABLE + 1


def test_a_sweep_of_at_least_two_numbers_gets_a_line_figure_without_bands_when_no_verdict():
    sweep = [metric(f"robust_accuracy@eps={e}", label=f"ε={e}") for e in ("0.5", "0", "0.1")]
    single = [metric("robust_accuracy@eps=0.1", label="ε=0.1")]
    b = board({**CLEAN, "Grad": sweep, "Once": single, "Set": [metric("accuracy_sst2")]})
    sweeps = [f for f in figures.plan(b) if f.kind == "sweep"]
    assert [f.name for f in sweeps] == ["grad-robust-accuracy-vs-eps"]
    line = sweeps[0].series[0]
    assert line.x == (0.0, 0.1, 0.5) and line.low is None and line.high is None
    assert sweeps[0].xlabel == "ε" and sweeps[0].ylabel == "Robust accuracy (%)"


def test_the_trade_off_plots_clean_against_the_ranking_score():
    b = board({**CLEAN, "Grad": [metric("robust_accuracy@eps=0.1")]})
    (trade_off,) = [f for f in figures.plan(b) if f.kind == "trade-off"]
    assert [p.label for p in trade_off.points] == [r for r, _, _ in b.ranked()]
    assert trade_off.ylabel == "Mean robust accuracy (%)"
    assert all(p.x_ci is None and p.y_ci is None for p in trade_off.points)  # no verdict
    assert not [f for f in figures.plan(board({"Grad": [metric("a")]})) if f.kind == "trade-off"]


def test_figures_render_to_the_same_png_bytes_twice():
    b = board({**CLEAN, "Grad": [metric(f"r@eps={e}") for e in (0, 1)], "Sets": SLICES})
    planned = figures.plan(b)
    assert {f.kind for f in planned} == {"trade-off", "sweep", "heatmap"}
    first = [figures.render(f) for f in planned]
    assert first == [figures.render(f) for f in planned]
    assert all(png.startswith(b"\x89PNG") for png in first)


def test_the_committed_nli_board_gets_every_kind_of_figure(rendered):
    names = sorted(p.name for p in (rendered["nli"] / "nli-figures").glob("*.png"))
    assert names == [
        "anli-details-heatmap.png",
        "deepwordbug-query-budget.png",
        "hans-style-details-heatmap.png",
        "hans-style-subcases-heatmap.png",
        "pgd-l2-robust-accuracy-vs-eps.png",
        "trade-off.png",
    ]
    data = json.loads((rendered["nli"] / "nli.json").read_text())
    assert data["rows"][0]["intervals"], "the nli board has a verdict (CI bands, whiskers)"
