"""The HTML board in a real browser: a small real run's page opened from disk in headless
Chromium (Debian's ``/usr/bin/chromium``, driven by playwright; ``scripts/setup`` installs it).

Without Chromium or playwright the test is skipped, except in CI (``RBNLP_STRICT=1``), where
it fails: a green CI must have opened the page.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from robustbench_nlp.cli import main
from tests.helpers import missing
from tests.test_word_attacks import need

#: The system browser; RBNLP_CHROMIUM names another binary (never a downloaded one).
CHROMIUM = Path(os.environ.get("RBNLP_CHROMIUM", "/usr/bin/chromium"))

SUITE = """\
name: browser
description: A tiny real run for the browser test of the HTML board.
backbone: tiny
task: {{name: embedded, params: {{train_size: 16, eval_size: 12}}}}
recipes:
  - {{name: baseline, label: A, params: {{max_steps: 3, batch_size: 4}}}}
  - {{name: baseline, label: B, params: {{max_steps: 1, batch_size: 4, lr: 1.0e-3}}}}
attacks:
  - {{name: pgd, label: PGD, params: {{eps: [0.0, 0.1, 0.5], steps: 1}}}}
  - {{name: deepwordbug, label: DWB, params: {{max_examples: 6}}}}
  - {{name: transfer, params: {{attack: DWB}}}}
seeds: [0]
output: {output}
checkpoint_dir: {checkpoints}
"""


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed: pip install -c constraints.txt -e '.[test]'")
    if not os.access(CHROMIUM, os.X_OK):
        missing(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/setup does)")
    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """A real run of the tiny backbone (PGD over three eps, DeepWordBug and its transfer
    matrix: every kind of figure), then its report."""
    need("stopwords", "wordnet", "textattack-cache")
    root = tmp_path_factory.mktemp("browser")
    suite = root / "suite.yaml"
    suite.write_text(SUITE.format(output=root / "out", checkpoints=root / "checkpoints"))
    assert main(["run", str(suite)]) == 0
    assert main(["report", str(root / "out")]) == 0
    return root


def column(page, table: str, index: int) -> list[str]:
    return page.locator(f"{table} tbody tr").evaluate_all(
        f"rows => rows.map(row => row.cells[{index}].textContent.trim())"
    )


def leading(cells: list[str]) -> list[float]:
    return [float(re.match(r"[-\d.]+", c).group()) for c in cells if c != "—"]


def test_the_page_renders_its_tables_and_figures_and_sorts_by_a_clicked_header(
    browser, report, tmp_path
):
    markdown = (report / "out.md").read_text()
    figures = sorted((report / "out-figures").glob("*.png"))
    assert {p.stem for p in figures} >= {
        "trade-off",
        "pgd-robust-accuracy-vs-eps",
        "dwb-query-budget",
        "dwb-transfer-on-each-recipe-s-adversarial-examples-heatmap",
    }
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    messages: list[str] = []
    page.on(
        "console",
        lambda m: messages.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else 0,
    )
    page.on("pageerror", lambda error: messages.append(f"page error: {error}"))
    page.goto((report / "out.html").as_uri())
    page.wait_for_load_state("load")

    assert page.locator("table.sortable").count() == markdown.count("\n|--")
    for table in page.locator("table.sortable").all():
        assert table.locator("tbody tr").count() > 0
    images = page.locator("img").evaluate_all(
        "images => images.map(i => [i.complete, i.naturalWidth, i.alt])"
    )
    assert len(images) == len(figures)
    assert all(done and width > 0 for done, width, _ in images), images

    main_table = "#ranking table"
    ranked = column(page, main_table, 1)
    names = [n.removesuffix(" (reference)") for n in ranked]
    header = page.locator(f"{main_table} thead th").nth(1)
    header.click()
    after = [n.removesuffix(" (reference)") for n in column(page, main_table, 1)]
    assert after == sorted(names) and header.get_attribute("aria-sort") == "ascending"
    header.click()
    again = [n.removesuffix(" (reference)") for n in column(page, main_table, 1)]
    assert again == sorted(names, reverse=True)
    assert after != names or again != names, "clicking a header reorders the rows"

    clean = page.locator(f"{main_table} thead th").nth(3)  # numbers: by the leading number
    clean.click()
    values = column(page, main_table, 3)
    assert leading(values) == sorted(leading(values))
    assert all(v != "—" for v in values[: len(leading(values))]), "— sorts last"

    page.screenshot(path=str(tmp_path / "board.png"), full_page=True)
    assert (tmp_path / "board.png").stat().st_size > 0
    assert not messages, messages
    page.close()
