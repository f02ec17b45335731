"""The base every plugin shares: hyperparameters as validated, recorded fields.

A plugin (recipe, attack, task) is a pydantic model: its fields are its hyperparameters with their
defaults, so a suite is validated field by field with the path of every mistake, and
``params()`` gives every setting (defaults included) for records and checkpoint keys. Methods
hold the algorithm; constructing a plugin does no work.

Two checks hold for every plugin, whatever its fields: a number must be finite (``lr: .inf``,
``eps: .nan`` are refused, also inside lists and untyped fields), and a boolean is not a number
(``seed: true`` is refused where the field takes an int or a float, not silently read as 1).
"""

from __future__ import annotations

import math
import types
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

_SEQUENCES = (list, tuple, set, frozenset, Sequence)


def _leaves(annotation: Any) -> set[Any]:
    """The alternatives of an annotation (through Optional, Union, Annotated; Literal values as
    their types)."""
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return set().union(*(_leaves(arg) for arg in get_args(annotation)))
    if origin is Annotated:
        return _leaves(get_args(annotation)[0])
    if origin is Literal:
        return {type(value) for value in get_args(annotation)}
    return {annotation}


def _element(annotation: Any) -> Any:
    """The element annotation of a sequence annotation (None if it is not one)."""
    for leaf in _leaves(annotation):
        if get_origin(leaf) in _SEQUENCES or leaf in _SEQUENCES:
            args = [a for a in get_args(leaf) if a is not Ellipsis]
            return args[0] if args else Any
    return None


def _refuses_bool(annotation: Any) -> bool:
    leaves = _leaves(annotation)
    return not leaves & {bool, Any, object} and bool(leaves & {int, float})


def _problems(value: Any, annotation: Any, loc: tuple) -> list[tuple[tuple, str]]:
    """(location, message) of every non-finite float and every boolean given for a number."""
    if isinstance(value, bool):
        if annotation is not None and _refuses_bool(annotation):
            return [(loc, f"a boolean ({str(value).lower()}) is not a number")]
        return []
    if isinstance(value, float):
        return [] if math.isfinite(value) else [(loc, f"must be a finite number, not {value}")]
    if isinstance(value, (list, tuple)):
        element = _element(annotation) if annotation is not None else None
        return [p for i, v in enumerate(value) for p in _problems(v, element, (*loc, i))]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _problems(v, None, (*loc, k))]
    return []


class Plugin(BaseModel):
    """Base class of recipes, attacks and tasks."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, arbitrary_types_allowed=True, allow_inf_nan=False
    )

    #: What kind of plugin this is ("recipe", "attack", "task").
    kind: ClassVar[str] = "plugin"
    #: The name the class is registered under (set by the registry).
    plugin_name: ClassVar[str] = ""
    #: Bump when a change to the plugin's code changes its results: it is part of the identity
    #: of every checkpoint and cell the plugin takes part in, so those are recomputed.
    version: ClassVar[int] = 1

    @model_validator(mode="before")
    @classmethod
    def _finite_numbers_no_booleans(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        problems = []
        for name, value in data.items():
            field = cls.model_fields.get(name)
            annotation = field.annotation if field is not None else None
            problems += _problems(value, annotation, (name,))
        if problems:
            raise ValidationError.from_exception_data(
                cls.__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("number", message), loc=loc, input=None
                    )
                    for loc, message in problems
                ],
            )
        return data

    def params(self) -> dict[str, Any]:
        """Every hyperparameter, defaults included, as plain JSON data."""
        return self.model_dump(mode="json")
