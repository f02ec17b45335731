"""One generic registry for every kind of plugin: recipes, attacks and tasks.

Plugins register with a decorator (``@recipes.register("scal")``). Built-in plugins are listed
as ``PluginInfo`` records: the lazy ``"module:Class"`` target plus what ``list`` shows and what a
suite is checked against (the docstring's first line, every parameter with its type, default and
bounds), so that ``robustbench-nlp list`` and every error in a suite come without importing a
plugin module (those import torch; ``import textattack`` alone costs seconds). A test checks each
record against its class. Third-party plugins come from the
``robustbench_nlp.plugins`` entry-point group (each entry point names a module that registers on
import) or from ``--include PATH`` (a ``.py`` file or a folder of them). Both execute the code they
name: ``run`` and ``list`` import every entry point of the group and every included file.

Every plugin is a class whose constructor takes its hyperparameters as keyword arguments
(torchattacks style); constructing one must be cheap, so that a suite is validated by building
all of its plugins before any work starts.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Generic, TypeVar

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.params import (  # noqa: F401 - re-exported for the plugin tables
    REQUIRED,
    Param,
    extend,
    param,
    params_of,
    shadow_model,
)

T = TypeVar("T")

ENTRY_POINT_GROUP = "robustbench_nlp.plugins"


@dataclass(frozen=True)
class PluginInfo:
    """What registration knows about a plugin without importing it."""

    #: ``"module:Class"``, imported on first ``Registry.get``.
    target: str
    #: The first line of the class docstring.
    description: str
    params: tuple[Param, ...] = ()


class Registry(Generic[T]):
    """Names -> plugin classes of one kind, with lazy entries and helpful misses.

    ``base`` is the class every plugin must subclass, or its lazy ``"module:Class"`` (so that
    the registry itself imports nothing heavy).
    """

    def __init__(self, kind: str, base: type | str | None = None) -> None:
        self.kind = kind
        self.base = base
        self._entries: dict[str, type[T] | str] = {}
        self._info: dict[str, PluginInfo] = {}
        self._shadows: dict[str, Any] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Class decorator: ``@registry.register("name")``."""

        def decorator(cls: type[T]) -> type[T]:
            self.add(name, cls)
            return cls

        return decorator

    def add(self, name: str, target: type[T] | str | PluginInfo) -> None:
        """Register a class, a lazy ``"module:attr"`` string resolved on first use, or a
        ``PluginInfo`` (a lazy target that ``describe`` and ``check`` answer without importing)."""
        info = None
        if isinstance(target, PluginInfo):
            info, target = target, target.target
        existing = self._entries.get(name)
        if existing is not None and existing is not target and not _same_lazy(existing, target):
            raise UserError(
                f"{self.kind} '{name}' is registered twice ({_describe(existing)} and "
                f"{_describe(target)}); rename one of them."
            )
        if not isinstance(target, str):
            self._check_base(name, target)
        self._entries[name] = target
        if info is not None:
            self._info[name] = info

    def get(self, name: str) -> type[T]:
        if name not in self._entries:
            raise UserError(self.unknown_message(name))
        target = self._entries[name]
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            target = getattr(importlib.import_module(module_name), attr)
            self._check_base(name, target)
            self._entries[name] = target
        if not getattr(target, "plugin_name", ""):
            target.plugin_name = name
        return target

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        return (
            f"unknown {self.kind} '{name}'.{hint} Available: {', '.join(self.names())} "
            f"(see `robustbench-nlp list {self.kind}s`)."
        )

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def info(self, name: str) -> PluginInfo:
        """Description and parameters: from the registration record of a built-in (nothing is
        imported), else from the class."""
        if name not in self._entries:
            raise UserError(self.unknown_message(name))
        if name in self._info:
            return self._info[name]
        cls = self.get(name)
        return PluginInfo(
            f"{cls.__module__}:{cls.__qualname__}", first_doc_line(cls), params_of(cls)
        )

    def describe(self) -> list[tuple[str, str]]:
        """(name, first line of the docstring) for every entry, sorted by name."""
        return [(name, self.info(name).description) for name in self.names()]

    def check(self, name: str, params: dict[str, Any]) -> None:
        """Validate ``params`` for plugin ``name`` (raises pydantic's ``ValidationError``).

        A built-in with a registration record is checked against a model built from that record
        (the class's types, defaults and bounds: the same messages, no import); its class's own
        validators run when it is built. Any other plugin is built, which validates it.
        """
        if name not in self._entries:
            raise UserError(self.unknown_message(name))
        if name not in self._info or not isinstance(self._entries[name], str):
            self.get(name)(**params)
            return
        if name not in self._shadows:
            self._shadows[name] = shadow_model(name, self._info[name].params)
        self._shadows[name](**params)

    def _check_base(self, name: str, cls: Any) -> None:
        if self.base is None:
            return
        base = self.base
        if isinstance(base, str):
            module_name, _, attr = base.partition(":")
            if module_name not in sys.modules:  # nothing can subclass a class never imported
                raise UserError(f"{self.kind} '{name}' must be a subclass of {attr}, got {cls!r}.")
            base = getattr(importlib.import_module(module_name), attr)
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise UserError(
                f"{self.kind} '{name}' must be a subclass of {base.__name__}, got {cls!r}."
            )


def first_doc_line(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    return doc.splitlines()[0] if doc else ""


def _same_lazy(a: object, b: object) -> bool:
    """A lazy string and the class it names are the same entry."""
    lazy, cls = (a, b) if isinstance(a, str) else (b, a)
    return (
        isinstance(lazy, str)
        and isinstance(cls, type)
        and (lazy == f"{cls.__module__}:{cls.__qualname__}")
    )


def _describe(target: object) -> str:
    return target if isinstance(target, str) else f"{target.__module__}.{target.__qualname__}"


def load_entry_points() -> None:
    """Import every module named in the ``robustbench_nlp.plugins`` entry-point group."""
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry.load()
        except UserError:
            raise
        except SystemExit as error:  # sys.exit() at import must not end the run silently
            raise UserError(
                f"plugin entry point '{entry.name}' ({entry.value}) called "
                f"sys.exit({error.code!r}) while it was imported; a plugin must not exit."
            ) from None
        except Exception as error:  # a broken third-party plugin must name itself
            raise UserError(
                f"plugin entry point '{entry.name}' ({entry.value}) failed to load: {error}"
            ) from error


def include(path: str | Path) -> list[Path]:
    """Import a plugin file, or every ``*.py`` in a folder, so its decorators register."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"--include {path}: no such file or folder.")
    files = sorted(path.glob("*.py")) if path.is_dir() else [path]
    if path.is_file() and path.suffix != ".py":
        raise UserError(f"--include {path}: expected a .py file or a folder of them.")
    if not files:
        raise UserError(f"--include {path}: the folder holds no .py files.")
    for file in files:
        digest = hashlib.sha1(str(file.resolve()).encode()).hexdigest()[:12]
        module_name = f"robustbench_nlp_plugin_{file.stem}_{digest}"
        if module_name in sys.modules:  # already included in this process
            continue
        spec = importlib.util.spec_from_file_location(module_name, file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except UserError:
            raise
        except SystemExit as error:  # sys.exit() at import must not end the run silently
            del sys.modules[module_name]
            raise UserError(
                f"--include {file}: the plugin called sys.exit({error.code!r}) while it was "
                "imported; a plugin must not exit."
            ) from None
        except Exception as error:
            del sys.modules[module_name]
            first = str(error).splitlines()[0] if str(error) else ""
            raise UserError(
                f"--include {file}: the plugin failed to import: {type(error).__name__}: {first}"
            ) from error
    return files
