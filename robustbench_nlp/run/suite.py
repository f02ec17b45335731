"""Suites: one YAML file says what to train, how to attack it, and where results go.

Loading is strict and happens before any work: malformed YAML, an unknown key, a wrong type, an
unknown plugin or a bad plugin parameter is reported with the file and the path inside it
(``suites/x.yaml: recipes[1].params.lr: ...``). ``--set a.b.c=value`` edits the parsed YAML
before validation, so overrides are validated exactly like the file.

Checking comes in two steps. ``check_suite`` decides everything the registration records know
(the file, the schema, plugin names, parameter names, types and bounds) without importing any
plugin module, so those errors come at once (no torch); ``build_suite`` then builds the plugins
from their classes, whose own validators (PromptBERT's templates, ...) run last.
``load_suite`` does both.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.registry import Registry
from robustbench_nlp.model.backbones import DEFAULT_BACKBONE
from robustbench_nlp.run.plugins import attacks, recipes, tasks
from robustbench_nlp.tasks.base import Task


class PluginSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    label: str | None = Field(None, description="Name on the leaderboard (default: name).")
    params: dict[str, Any] = Field(default_factory=dict)


class RecipeSpec(PluginSpec):
    sweep: dict[str, list[Any]] = Field(
        default_factory=dict, description="Parameter -> values; each combination is its own row."
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
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    output: str | None = Field(None, description="Results folder (default leaderboard/<name>).")
    checkpoint_dir: str | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"

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


@dataclass(frozen=True)
class Suite:
    config: SuiteConfig
    path: Path
    task: Task
    recipes: list[Variant]
    attacks: list[Variant]

    @property
    def output(self) -> Path:
        return Path(self.config.output or f"leaderboard/{self.config.name}")


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
    cls = registry.get(spec.name)
    try:
        return cls(**params)
    except ValidationError as error:
        raise UserError(_validation_message(where, f"{prefix}.params", error)) from None


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


def check_suite(path: str | Path, overrides: list[str] | None = None) -> SuiteConfig:
    """Read, override and validate a suite against the registration records, or raise
    UserError; imports no plugin module (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"suite {path}: no such file; see suites/ for examples.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise UserError(f"{path}: invalid YAML{at}: {problem}.") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: a suite must be a YAML mapping (name:, task:, recipes:, ...).")
    data.setdefault("name", path.stem)
    for assignment in overrides or []:
        apply_override(data, assignment)
    try:
        config = SuiteConfig.model_validate(data)
    except ValidationError as error:
        raise UserError(_validation_message(str(path), "", error)) from None

    where = str(path)
    _check(tasks, config.task, config.task.params, where, "task")
    recipe_labels = []
    for i, spec in enumerate(config.recipes):
        if spec.sweep and spec.name in recipes:
            names = [p.name for p in recipes.info(spec.name).params]
            for key in spec.sweep:
                if key not in names:
                    raise UserError(
                        f"{where}: recipes[{i}].sweep.{key}: not a parameter of "
                        f"{spec.name} ({', '.join(names)})."
                    )
        for label, params in _sweep(spec):
            _check(recipes, spec, params, where, f"recipes[{i}]")
            recipe_labels.append(label)
    attack_labels = [] if any(spec.name == "clean" for spec in config.attacks) else ["clean"]
    for i, spec in enumerate(config.attacks):
        _check(attacks, spec, spec.params, where, f"attacks[{i}]")
        attack_labels.append(spec.label or spec.name)
    for kind, labels in (("recipes", recipe_labels), ("attacks", attack_labels)):
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise UserError(
                f"{where}: {kind}: label {duplicates[0]!r} is used twice; give each "
                "entry its own label:."
            )
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
            recipe_variants.append(Variant(label, plugin))
    attack_variants: list[Variant] = []
    if not any(spec.name == "clean" for spec in config.attacks):
        attack_variants.append(Variant("clean", attacks.get("clean")()))
    for i, spec in enumerate(config.attacks):
        plugin = _build(attacks, spec, spec.params, where, f"attacks[{i}]")
        attack_variants.append(Variant(spec.label or spec.name, plugin))
    return Suite(config, path, task, recipe_variants, attack_variants)


def load_suite(path: str | Path, overrides: list[str] | None = None) -> Suite:
    """Read, override, validate and build every plugin of a suite, or raise UserError."""
    return build_suite(check_suite(path, overrides), path)
