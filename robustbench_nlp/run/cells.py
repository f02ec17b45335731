"""Cells: the grid recipe x seed x attack of a suite, each with the identity that names it.

A cell's id is a hash of everything that decides its result (see ``run.runner``'s docstring);
``preflight`` checks every plugin's files and gathers the fingerprints that join the identity,
``plan`` lists the cells in run order. Nothing here trains, measures or writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from robustbench_nlp.core.hashing import stable_hash
from robustbench_nlp.measure.base import MeasureContext
from robustbench_nlp.resources.layout import fingerprint as resources_fingerprint
from robustbench_nlp.run.store import cell_prefix
from robustbench_nlp.run.suite import Suite, Variant
from robustbench_nlp.tasks.base import TaskData


@dataclass(frozen=True)
class Cell:
    recipe: Variant
    seed: int
    attack: Variant
    cell_id: str
    checkpoint_key: str
    fingerprints: dict = field(default_factory=dict, compare=False, hash=False)
    #: For a replaying cell (transfer): (recipe label, cell id) of each cell it reads.
    sources: tuple[tuple[str, str], ...] = ()


def plugin_identity(name: str, plugin) -> dict:
    return {"name": name, "params": plugin.params(), "version": plugin.version}


def data_fingerprint(data: TaskData) -> str:
    """A fingerprint of the rows a task loaded (after subsetting): what training and the
    attacks of the task's evaluation split actually see."""
    return stable_hash([[e.id for e in data.train], [e.id for e in data.eval]])


def checkpoint_key(
    suite: Suite, recipe: Variant, seed: int, data: str, files: dict[str, str] | None = None
) -> str:
    """The identity of a trained model; ``files`` (what the recipe's preflight says of the files
    it reads) joins it only when there is any, so other recipes keep their keys."""
    identity = {
        "recipe": plugin_identity(recipe.plugin.plugin_name, recipe.plugin),
        "task": plugin_identity(suite.task.plugin_name, suite.task),
        "data": data,
        "backbone": suite.config.backbone,
        "seed": seed,
    }
    if files:
        identity["files"] = files
    return stable_hash(identity)


@dataclass(frozen=True)
class Preflight:
    """What the runner learned before any work: the task's data and every fingerprint."""

    data: TaskData
    data_fingerprint: str
    #: attack label -> {"examples": ..., "resources": ...}
    attacks: dict[str, dict[str, str]]
    #: (recipe label, seed) -> what its preflight says of the files it reads (see
    #: ``checkpoint_key``)
    recipes: dict[tuple[str, int], dict[str, str]] = field(default_factory=dict)


def preflight(suite: Suite, data_dir: Path | None, data: TaskData | None = None) -> Preflight:
    """Load the task (unless ``data`` is its loaded data already) and check every recipe's and
    every attack's files and resources, before any training.

    Raises ``UserError`` (one line, naming the file and the fix) on the first problem.
    """
    data = data if data is not None else suite.task.load(data_dir)
    recipes = {
        (recipe.label, seed): recipe.plugin.preflight(suite.task, seed)
        for recipe in suite.recipes
        for seed in suite.config.seeds
        if recipe.runs(seed)
    }
    fingerprints: dict[str, dict[str, str]] = {}
    for attack in suite.attacks:
        plugin = attack.plugin
        plugin.preflight(data_dir, suite.task)
        context = MeasureContext(
            suite.task, data, 0, "cpu", data_dir, Path("."), "", label=attack.label
        )
        fingerprints[attack.label] = {
            "examples": plugin.fingerprint(context),
            "resources": resources_fingerprint(*plugin.resource_names()),
        }
    return Preflight(data, data_fingerprint(data), fingerprints, recipes)


def plan(suite: Suite, checked: Preflight) -> list[Cell]:
    """Every cell of the suite, in run order: seed by seed (so a partial run already has one
    complete row per recipe), cells of one (recipe, seed) together (they share a checkpoint),
    and a seed's replaying cells (transfer) after every cell they read."""
    cells = []
    replaying = [a for a in suite.attacks if a.plugin.reads_attack() is not None]
    direct = [a for a in suite.attacks if a not in replaying]
    for seed in suite.config.seeds:
        ids: dict[tuple[str, str], str] = {}  # (recipe, attack) -> cell id, this seed
        for attacks in (direct, replaying):
            running = [r for r in suite.recipes if r.runs(seed)]
            for recipe in running:
                files = checked.recipes.get((recipe.label, seed))
                key = checkpoint_key(suite, recipe, seed, checked.data_fingerprint, files)
                for attack in attacks:
                    source = attack.plugin.reads_attack()
                    sources = (
                        tuple((r.label, ids[(r.label, source)]) for r in running)
                        if source is not None
                        else ()
                    )
                    cell = _cell(suite, checked, recipe, seed, attack, key, files, sources)
                    ids[(recipe.label, attack.label)] = cell.cell_id
                    cells.append(cell)
    return cells


def _cell(suite, checked, recipe, seed, attack, key, files, sources) -> Cell:
    fingerprints = {
        "data": checked.data_fingerprint,
        **checked.attacks[attack.label],
        **({"recipe_files": files} if files else {}),
        **({"sources": dict(sources)} if sources else {}),
        "versions": {
            "task": suite.task.version,
            "recipe": recipe.plugin.version,
            "attack": attack.plugin.version,
        },
    }
    identity = {
        "checkpoint": key,
        "attack": plugin_identity(attack.plugin.plugin_name, attack.plugin),
        "examples": fingerprints["examples"],
        "resources": fingerprints["resources"],
        **({"sources": dict(sources)} if sources else {}),
    }
    cell_id = f"{cell_prefix(recipe.label, seed, attack.label)}__{stable_hash(identity, length=10)}"
    return Cell(recipe, seed, attack, cell_id, key, fingerprints, sources)


def by_checkpoint(cells: list[Cell]) -> Iterator[list[Cell]]:
    """Runs of consecutive cells that share a checkpoint (one training each)."""
    group: list[Cell] = []
    for cell in cells:
        if group and cell.checkpoint_key != group[0].checkpoint_key:
            yield group
            group = []
        group.append(cell)
    if group:
        yield group
