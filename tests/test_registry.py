"""The plugin registry: decorators, lazy entries, helpful misses, collisions, --include."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustbench_nlp.attacks.base import Attack
from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.registry import Registry, include
from robustbench_nlp.recipes.base import Recipe
from robustbench_nlp.run.plugins import attacks, recipes, tasks


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
