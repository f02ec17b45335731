"""Suites: one YAML file says what to train, how to attack it, and where results go.

Loading is strict and happens before any work: malformed YAML, an unknown key, a wrong type, an
unknown plugin or a bad plugin parameter is reported with the file and the path inside it
(``suites/x.yaml: recipes[1].params.lr: ...``). ``--set a.b.c=value`` edits the parsed YAML
before validation, so overrides are validated exactly like the file.

The file must be UTF-8 and may not repeat a key in a mapping (YAML would silently keep the last).
Work is bounded before anything is expanded: the grid (recipe variants x seeds x attacks) is
counted from the sweep lists and refused above ``max_cells`` (the suite can raise it), and a
file whose aliases expand to more than ``MAX_NODES`` values is refused. Labels must stay
distinct once turned into cell ids (``PGD`` and ``pgd`` would share one).

Relative ``output:`` and ``checkpoint_dir:`` paths are relative to the suite file's folder; the
default results folder, ``leaderboard/<name>``, is relative to the working directory.

Checking comes in two steps. ``check_suite`` decides everything the registration records know
(the file, the schema, plugin names, parameter names, types and bounds) without importing any
plugin module, so those errors come at once (no torch); ``build_suite`` then builds the plugins
from their classes, whose own validators (PromptBERT's templates, ...) run last.
``load_suite`` does both.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.registry import Registry
from robustbench_nlp.model.backbones import DEFAULT_BACKBONE
from robustbench_nlp.run.plugins import attacks, recipes, tasks
from robustbench_nlp.run.store import check_labels
from robustbench_nlp.tasks.base import Task

#: The default most cells a suite may have (``max_cells:`` raises it).
DEFAULT_MAX_CELLS = 1000
#: The most values (mappings, lists and scalars, aliases expanded) a suite file may hold.
MAX_NODES = 100_000


class PluginSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    label: str | None = Field(None, description="Name on the leaderboard (default: name).")
    params: dict[str, Any] = Field(default_factory=dict)


class RecipeSpec(PluginSpec):
    sweep: dict[str, list[Any]] = Field(
        default_factory=dict, description="Parameter -> values; each combination is its own row."
    )
    seeds: list[StrictInt] | None = Field(
        None,
        min_length=1,
        description="The suite's seeds this recipe runs (default: all of them); for a recipe too "
        "costly for every seed, which the board then states by its seed count.",
    )


class RaySpec(BaseModel):
    """How the Ray executor (``run --executor ray``) runs the suite's tasks; decides no result."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(
        None,
        description="A running cluster (e.g. ray://head:10001 or auto); unset: a local Ray "
        "instance started for the run. --ray-address overrides it.",
    )
    num_cpus: float = Field(1.0, gt=0, description="CPUs each training or cell task needs.")
    num_gpus: float = Field(0.0, ge=0, description="GPUs each training or cell task needs.")
    max_retries: int = Field(
        2, ge=0, description="Retries of a task whose worker process died, before it is failed."
    )
    local_cpus: int | None = Field(
        None, gt=0, description="CPUs of the local instance (default: all of this machine's)."
    )


class SuiteConfig(BaseModel):
    """The schema of a suite file."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    backbone: str = DEFAULT_BACKBONE
    task: PluginSpec
    recipes: list[RecipeSpec] = Field(min_length=1)
    attacks: list[PluginSpec] = Field(default_factory=list)
    seeds: list[StrictInt] = Field(default_factory=lambda: [0], min_length=1)
    max_examples: int | None = Field(
        None,
        gt=0,
        description="One example set for the clean column and every attack of the task's "
        "evaluation split (an attack's own max_examples overrides it).",
    )
    ensemble: list[str] | None = Field(
        None,
        description="Labels of the attacks whose worst case ranks the board (default: every "
        "perturbation attack).",
    )
    reference: str | None = Field(
        None, description="Recipe label the significance tests compare to (default: baseline)."
    )
    output: str | None = Field(
        None,
        description="Results folder; relative to the suite file's folder (default "
        "leaderboard/<name> in the working directory).",
    )
    checkpoint_dir: str | None = Field(None, description="Relative to the suite file's folder.")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    max_cells: StrictInt = Field(
        DEFAULT_MAX_CELLS, ge=1, description="Refuse a grid with more cells than this."
    )
    ray: RaySpec = Field(default_factory=RaySpec)

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be unique")
        return seeds

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        if not name or any(c in name for c in "/\\ ") or name.startswith("."):
            raise ValueError("name must be a plain file name (no spaces or slashes)")
        return name


@dataclass(frozen=True)
class Variant:
    """A plugin as configured by the suite, under its leaderboard label."""

    label: str
    plugin: Any
    #: The seeds this variant runs (recipes; None: every seed of the suite).
    seeds: tuple[int, ...] | None = None

    def runs(self, seed: int) -> bool:
        return self.seeds is None or seed in self.seeds


@dataclass(frozen=True)
class Suite:
    config: SuiteConfig
    path: Path
    task: Task
    recipes: list[Variant]
    attacks: list[Variant]
    #: ``run --output``: a results folder given on the command line (relative to the working
    #: directory), instead of the suite's own.
    output_override: Path | None = None

    def _beside_suite(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.path.parent / path

    @property
    def output(self) -> Path:
        if self.output_override is not None:
            return Path(self.output_override)
        if self.config.output:
            return self._beside_suite(self.config.output)
        return Path("leaderboard") / self.config.name

    @property
    def checkpoint_dir(self) -> Path | None:
        return (
            self._beside_suite(self.config.checkpoint_dir) if self.config.checkpoint_dir else None
        )


def _format_loc(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _validation_message(where: str, prefix: str, error: ValidationError) -> str:
    first = error.errors()[0]
    loc = _format_loc(tuple(first["loc"]))
    path = f"{prefix}.{loc}" if prefix and loc else (prefix or loc)
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown key (check its spelling, or remove it)"
    elif isinstance(first.get("input"), bool) and first["type"] in ("int_type", "float_type"):
        message = f"a boolean ({str(first['input']).lower()}) is not a number"
    return f"{where}: {path}: {message}"


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one ``--set a.b.c=value`` (value parsed as YAML) to the raw suite data."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set {assignment!r}: expected key.path=value, e.g. seeds=[0,1].")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        raise UserError(f"--set {assignment!r}: the value is not valid YAML ({error}).") from error
    parts = key.strip().split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            index = _list_index(node, part, assignment, where)
            if last:
                node[index] = value
            else:
                node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise UserError(f"--set {assignment!r}: {where} is not a mapping or list.")


def _list_index(node: list, part: str, assignment: str, where: str) -> int:
    if part.lstrip("-").isdigit():
        index = int(part)
        if not -len(node) <= index < len(node):
            raise UserError(f"--set {assignment!r}: {where}: index out of range ({len(node)}).")
        return index
    for index, item in enumerate(node):  # allow recipes.scal.params.eps=0.2
        if isinstance(item, dict) and part in (item.get("label"), item.get("name")):
            return index
    raise UserError(f"--set {assignment!r}: {where}: no list entry named {part!r}.")


def _check(registry: Registry, spec: PluginSpec, params: dict, where: str, prefix: str) -> None:
    if spec.name not in registry:
        raise UserError(f"{where}: {prefix}.name: {registry.unknown_message(spec.name)}")
    try:
        registry.check(spec.name, params)
    except ValidationError as error:
        raise UserError(_validation_message(where, f"{prefix}.params", error)) from None


def _build(registry: Registry, spec: PluginSpec, params: dict, where: str, prefix: str):
    if spec.name not in registry:
        raise UserError(f"{where}: {prefix}.name: {registry.unknown_message(spec.name)}")
    cls = registry.get(spec.name)
    try:
        return cls(**params)
    except ValidationError as error:
        raise UserError(_validation_message(where, f"{prefix}.params", error)) from None


def count_cells(config: SuiteConfig) -> int:
    """The number of cells of a suite, from the lengths of its sweep lists (nothing expanded)."""
    runs = sum(
        math.prod(len(v) for v in spec.sweep.values()) * len(spec.seeds or config.seeds)
        for spec in config.recipes
    )
    attacks_ = len(config.attacks) + (not any(spec.name == "clean" for spec in config.attacks))
    return runs * attacks_


def _sweep(spec: RecipeSpec) -> list[tuple[str, dict[str, Any]]]:
    base = spec.label or spec.name
    if not spec.sweep:
        return [(base, dict(spec.params))]
    keys = list(spec.sweep)
    variants = []
    for values in itertools.product(*(spec.sweep[k] for k in keys)):
        setting = dict(zip(keys, values, strict=True))
        label = f"{base} ({', '.join(f'{k}={v}' for k, v in setting.items())})"
        variants.append((label, {**spec.params, **setting}))
    return variants


class _SuiteLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key repeated in one mapping (merge keys ``<<`` may still
    be overridden: that is what they are for)."""


def _construct_mapping(loader: _SuiteLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, yaml.Mark] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: the base constructor reports it
            continue
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {first.line + 1}); keep one of them",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark
    return loader.construct_mapping(node, deep=deep)


_SuiteLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _expanded_size(data: Any, limit: int) -> int:
    """How many values ``data`` holds with every alias expanded (stops counting past
    ``limit``); raises ValueError on a recursive alias."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise ValueError("an alias refers to a mapping or list that contains it")
        open_.add(key)
        items = [x for pair in node.items() for x in pair] if isinstance(node, dict) else node
        total = 1
        for item in items:
            total += size(item)
            if total > limit:
                break
        open_.discard(key)
        sizes[key] = total
        return total

    return size(data)


def read_suite_data(path: Path) -> dict[str, Any]:
    """The raw mapping of a suite file, or UserError (not UTF-8, bad YAML, duplicate keys,
    aliases that expand beyond ``MAX_NODES``, not a mapping)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise UserError(
            f"{path}: not UTF-8 text (byte 0x{path.read_bytes()[error.start]:02x} at line "
            f"{line}); save the file as UTF-8."
        ) from None
    except OSError as error:
        raise UserError(f"suite {path}: cannot be read ({error.strerror}).") from None
    try:
        data = yaml.load(text, Loader=_SuiteLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise UserError(f"{path}: invalid YAML{at}: {problem}.") from None
    except RecursionError:
        raise UserError(f"{path}: the YAML is nested too deeply.") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: a suite must be a YAML mapping (name:, task:, recipes:, ...).")
    try:
        size = _expanded_size(data, MAX_NODES)
    except ValueError as error:
        raise UserError(f"{path}: {error}; a suite must be a tree.") from None
    except RecursionError:
        raise UserError(f"{path}: the YAML is nested too deeply.") from None
    if size > MAX_NODES:
        raise UserError(
            f"{path}: the file expands (aliases included) to more than {MAX_NODES:,} values; "
            "a suite is a small file: write sweeps as short lists."
        )
    return data


def check_suite(path: str | Path, overrides: list[str] | None = None) -> SuiteConfig:
    """Read, override and validate a suite against the registration records, or raise
    UserError; imports no plugin module (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"suite {path}: no such file; see suites/ for examples.")
    data = read_suite_data(path)
    data.setdefault("name", path.stem)
    for assignment in overrides or []:
        apply_override(data, assignment)
    try:
        config = SuiteConfig.model_validate(data)
    except ValidationError as error:
        raise UserError(_validation_message(str(path), "", error)) from None

    where = str(path)
    for i, spec in enumerate(config.recipes):
        for key, values in spec.sweep.items():
            if not values:
                raise UserError(
                    f"{where}: recipes[{i}].sweep.{key}: the list is empty; give at least one "
                    f"value, or remove {key} from the sweep."
                )
        if spec.sweep and spec.name in recipes:
            names = [p.name for p in recipes.info(spec.name).params]
            for key in spec.sweep:
                if key not in names:
                    raise UserError(
                        f"{where}: recipes[{i}].sweep.{key}: not a parameter of "
                        f"{spec.name} ({', '.join(names)})."
                    )
    cells = count_cells(config)
    if cells > config.max_cells:
        raise UserError(
            f"{where}: the suite has {cells:,} cells (recipe variants x seeds x attacks), more "
            f"than max_cells: {config.max_cells:,}; shorten the sweeps, or raise max_cells: if "
            "you mean it."
        )
    _check(tasks, config.task, config.task.params, where, "task")
    for i, spec in enumerate(config.recipes):
        for _, params in _sweep(spec):
            _check(recipes, spec, params, where, f"recipes[{i}]")
        extra = sorted(set(spec.seeds or ()) - set(config.seeds))
        if extra:
            raise UserError(
                f"{where}: recipes[{i}].seeds: {extra} not in the suite's seeds {config.seeds}; "
                "a recipe runs a subset of them (add the seed to seeds:, or drop it here)."
            )
        if spec.seeds is not None and len(set(spec.seeds)) != len(spec.seeds):
            raise UserError(f"{where}: recipes[{i}].seeds: a seed is repeated; keep one.")
    for i, spec in enumerate(config.attacks):
        _check(attacks, spec, spec.params, where, f"attacks[{i}]")
    return config


def build_task(config: SuiteConfig, path: str | Path) -> Task:
    """The suite's task (task modules import no torch: its data can be checked at once)."""
    return _build(tasks, config.task, config.task.params, str(path), "task")


def build_suite(config: SuiteConfig, path: str | Path, task: Task | None = None) -> Suite:
    """Build every plugin of a checked suite (their classes' own validators run here)."""
    path, where = Path(path), str(path)
    task = task if task is not None else build_task(config, path)
    recipe_variants: list[Variant] = []
    for i, spec in enumerate(config.recipes):
        for label, params in _sweep(spec):
            plugin = _build(recipes, spec, params, where, f"recipes[{i}]")
            seeds = None if spec.seeds is None else tuple(spec.seeds)
            recipe_variants.append(Variant(label, plugin, seeds))
    attack_variants: list[Variant] = []
    shared = {} if config.max_examples is None else {"max_examples": config.max_examples}
    if not any(spec.name == "clean" for spec in config.attacks):
        attack_variants.append(Variant("clean", attacks.get("clean")(**shared)))
    for i, spec in enumerate(config.attacks):
        params = dict(spec.params)
        if attacks.get(spec.name).reads_task_eval:
            params = {**shared, **params}
        plugin = _build(attacks, spec, params, where, f"attacks[{i}]")
        attack_variants.append(Variant(spec.label or plugin.default_label(spec.name), plugin))
    for kind, variants in (("recipes", recipe_variants), ("attacks", attack_variants)):
        check_labels([v.label for v in variants], f"{where}: {kind}")
    labels = {v.label for v in attack_variants}
    for label in config.ensemble or []:
        if label not in labels:
            raise UserError(
                f"{where}: ensemble: no attack labelled {label!r} (attacks: "
                f"{', '.join(sorted(labels))})."
            )
        if not next(v for v in attack_variants if v.label == label).plugin.perturbs:
            raise UserError(
                f"{where}: ensemble: {label!r} is a fixed evaluation set, not an attack; the "
                "ensemble holds perturbation attacks only."
            )
    _check_replays(attack_variants, where)
    recipe_labels = [v.label for v in recipe_variants]
    if config.reference is not None and config.reference not in recipe_labels:
        raise UserError(
            f"{where}: reference: no recipe labelled {config.reference!r} "
            f"(recipes: {', '.join(recipe_labels)})."
        )
    return Suite(config, path, task, recipe_variants, attack_variants)


def _check_replays(variants: list[Variant], where: str) -> None:
    """An attack that replays another's cells (transfer) must name a word attack of the suite."""
    by_label = {v.label: v for v in variants}
    for variant in variants:
        source = variant.plugin.reads_attack()
        if source is None:
            continue
        found = by_label.get(source)
        if found is None or not found.plugin.writes_adversarial_examples:
            words = sorted(v.label for v in variants if v.plugin.writes_adversarial_examples)
            raise UserError(
                f"{where}: attack {variant.label!r}: attack: {source!r} is "
                + ("no attack of this suite" if found is None else "no word attack")
                + f"; name the label of a word attack of the suite ({', '.join(words) or 'none'})."
            )


def load_suite(path: str | Path, overrides: list[str] | None = None) -> Suite:
    """Read, override, validate and build every plugin of a suite, or raise UserError."""
    return build_suite(check_suite(path, overrides), path)
