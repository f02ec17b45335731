"""The plugin registry: decorators, lazy entries, helpful misses, collisions, --include."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from robustbench_nlp.attacks.base import Attack
from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.params import shadow_model
from robustbench_nlp.core.registry import (
    REQUIRED,
    Registry,
    extend,
    first_doc_line,
    include,
    param,
    params_of,
)
from robustbench_nlp.recipes.base import Recipe
from robustbench_nlp.recipes.registry import BUILTIN_RECIPES
from robustbench_nlp.run.plugins import BUILTIN_ATTACKS, attacks, recipes, tasks
from robustbench_nlp.tasks.registry import BUILTIN_TASKS


def test_decorator_registers_and_get_returns_the_class():
    registry: Registry[Attack] = Registry("attack", Attack)

    @registry.register("noop")
    class Noop(Attack):
        """Does nothing."""

    assert registry.get("noop") is Noop
    assert registry.describe() == [("noop", "Does nothing.")]
    assert Noop.plugin_name == "noop"


def test_unknown_name_lists_known_names_and_suggests_the_closest():
    with pytest.raises(UserError) as error:
        recipes.get("basline")
    message = str(error.value)
    assert "Did you mean: baseline?" in message
    assert "Available:" in message and "baseline" in message


def test_lazy_entry_resolves_on_first_use_only():
    registry: Registry[Attack] = Registry("attack", Attack)
    registry.add("pgd", "robustbench_nlp.attacks.embedding_pgd:EmbeddingPGD")
    assert isinstance(registry._entries["pgd"], str)
    cls = registry.get("pgd")
    assert cls.__name__ == "EmbeddingPGD"
    assert registry._entries["pgd"] is cls


def test_registering_two_classes_under_one_name_fails_loudly():
    registry: Registry[Recipe] = Registry("recipe", Recipe)

    @registry.register("x")
    class First(Recipe):
        pass

    with pytest.raises(UserError, match="registered twice"):

        @registry.register("x")
        class Second(Recipe):
            pass


def test_wrong_base_class_is_refused():
    registry: Registry[Recipe] = Registry("recipe", Recipe)
    with pytest.raises(UserError, match="must be a subclass of Recipe"):
        registry.add("bad", dict)


def test_builtins_are_listed_with_descriptions():
    for registry, name in ((recipes, "baseline"), (attacks, "pgd"), (tasks, "sst2")):
        described = dict(registry.describe())
        assert described[name], f"{name} has no one-line description"


def test_include_loads_a_plugin_file(tmp_path):
    plugin = tmp_path / "my_attack.py"
    plugin.write_text(
        "from robustbench_nlp import Attack, register_attack\n"
        "@register_attack('included_noop_attack')\n"
        "class IncludedNoop(Attack):\n"
        "    '''An attack from an --include file.'''\n"
    )
    include(plugin)
    assert attacks.get("included_noop_attack").__doc__ == "An attack from an --include file."


def test_include_loads_every_file_of_a_folder(tmp_path):
    for i in range(2):
        (tmp_path / f"p{i}.py").write_text(
            "from robustbench_nlp import Task, register_task\n"
            f"@register_task('folder_task_{i}')\n"
            f"class T{i}(Task):\n    '''Task {i}.'''\n"
        )
    assert len(include(tmp_path)) == 2
    assert "folder_task_0" in tasks and "folder_task_1" in tasks


def test_the_entry_point_group_is_the_documented_one():
    """Third-party packages register under ``robustbench_nlp.plugins`` (README); the name
    must not follow the module that happens to load them."""
    from robustbench_nlp.core.registry import ENTRY_POINT_GROUP

    assert ENTRY_POINT_GROUP == "robustbench_nlp.plugins"
    readme = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text().split())
    assert "`robustbench_nlp.plugins` entry-point group" in readme
    from robustbench_nlp.cli import _parser

    run_help = " ".join(
        _parser()._subparsers._group_actions[0].choices["run"].format_help().split()
    )
    assert f"(group {ENTRY_POINT_GROUP})" in run_help


BUILTINS = [
    (registry, name, info)
    for registry, table in (
        (tasks, BUILTIN_TASKS),
        (recipes, BUILTIN_RECIPES),
        (attacks, BUILTIN_ATTACKS),
    )
    for name, info in table.items()
]


@pytest.mark.parametrize(
    ("registry", "name", "info"), BUILTINS, ids=[f"{r.kind}-{n}" for r, n, _ in BUILTINS]
)
def test_registration_record_matches_its_class(registry, name, info):
    """``list`` and suite checks read the record, never the class: it must not drift."""
    assert registry.info(name) is info
    cls = registry.get(name)
    assert info.target == f"{cls.__module__}:{cls.__qualname__}"
    assert info.description == first_doc_line(cls)
    actual = params_of(cls)
    assert info.params == actual, "the record's params should be:\n" + "\n".join(map(repr, actual))
    shadow = shadow_model(name, info.params)
    assert list(shadow.model_fields) == list(cls.model_fields)
    for field_name, field in cls.model_fields.items():
        assert shadow.model_fields[field_name].annotation == field.annotation, field_name
    # The record's model checks types and bounds only; the class's own validators must run
    # after those (mode "after"), so the record never rejects a value the class accepts.
    # (The base's "before" check is the exception: it only refuses non-finite numbers and
    # booleans given for numbers, never turns a value the record refuses into one it accepts.)
    decorators = cls.__pydantic_decorators__
    for decorator in (*decorators.field_validators.values(), *decorators.model_validators.values()):
        if decorator.cls_var_name == "_finite_numbers_no_booleans":
            continue
        assert decorator.info.mode == "after", f"{name}: {decorator.cls_var_name}"


def test_record_check_gives_the_class_message_without_importing_it():
    registry: Registry = Registry("recipe", "robustbench_nlp.recipes.base:Recipe")
    registry.add("baseline", BUILTIN_RECIPES["baseline"])
    with pytest.raises(ValidationError) as from_record:
        registry.check("baseline", {"lr": -1, "epochz": 2})
    assert isinstance(registry._entries["baseline"], str), "check must not import the class"
    with pytest.raises(ValidationError) as from_class:
        registry.get("baseline")(lr=-1, epochz=2)
    simplify = lambda error: [(e["loc"], e["msg"]) for e in error.errors()]  # noqa: E731
    assert simplify(from_record.value) == simplify(from_class.value)
    registry.check("baseline", {"lr": 1e-4, "pooling": "cls"})


def test_extend_replaces_in_place_and_appends():
    base = (param("a", "int", 1), param("b", "int", 2))
    assert [(p.name, p.default) for p in extend(base, param("c", "int"), param("a", "int", 9))] == [
        ("a", 9),
        ("b", 2),
        ("c", REQUIRED),
    ]


def test_lazy_base_class_is_checked_on_registration():
    registry: Registry = Registry("recipe", "robustbench_nlp.recipes.base:Recipe")
    with pytest.raises(UserError, match="must be a subclass of Recipe"):
        registry.add("bad", dict)

    @registry.register("good")
    class Good(Recipe):
        """Good."""

    assert registry.get("good") is Good
    assert registry.info("good").params == params_of(Recipe)
