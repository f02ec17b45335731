"""One generic registry for every kind of plugin: recipes, attacks and tasks.

Plugins register with a decorator (``@recipes.register("scal")``). Built-in plugins are listed
as lazy ``"module:attr"`` strings so that ``robustbench-nlp list`` never imports heavy optional
libraries (``import textattack`` alone costs seconds). Third-party plugins come from the
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
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Generic, TypeVar

from robustbench_nlp.core.errors import UserError

T = TypeVar("T")

ENTRY_POINT_GROUP = "robustbench_nlp.plugins"


class Registry(Generic[T]):
    """Names -> plugin classes of one kind, with lazy entries and helpful misses."""

    def __init__(self, kind: str, base: type | None = None) -> None:
        self.kind = kind
        self.base = base
        self._entries: dict[str, type[T] | str] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Class decorator: ``@registry.register("name")``."""

        def decorator(cls: type[T]) -> type[T]:
            self.add(name, cls)
            return cls

        return decorator

    def add(self, name: str, target: type[T] | str) -> None:
        """Register a class, or a lazy ``"module:attr"`` string resolved on first use."""
        existing = self._entries.get(name)
        if existing is not None and existing is not target and not _same_lazy(existing, target):
            raise UserError(
                f"{self.kind} '{name}' is registered twice ({_describe(existing)} and "
                f"{_describe(target)}); rename one of them."
            )
        if not isinstance(target, str):
            self._check_base(name, target)
        self._entries[name] = target

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

    def describe(self) -> list[tuple[str, str]]:
        """(name, first line of the docstring) for every entry, sorted by name."""
        rows = []
        for name in self.names():
            doc = inspect.getdoc(self.get(name)) or ""
            rows.append((name, doc.splitlines()[0] if doc else ""))
        return rows

    def _check_base(self, name: str, cls: Any) -> None:
        if self.base is not None and not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise UserError(
                f"{self.kind} '{name}' must be a subclass of {self.base.__name__}, got {cls!r}."
            )


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
