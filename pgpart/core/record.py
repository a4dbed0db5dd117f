"""``@record``: a frozen, slotted dataclass, built in a quarter of the time.

Every typed record in pgpart is ``@dataclass(frozen=True, slots=True)``. On
CPython 3.11 the decorator compiles six functions per class from generated
source (``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__``,
``__delattr__``), about 0.5 ms a class: with the hundred records a `check`
imports, some 65 ms of every run's start, a tenth of the whole command.

``record`` builds the same class: the standard library's dataclass machinery
reads the fields (so ``dataclasses.replace``, ``fields`` and ``asdict`` work
as on any dataclass) and makes the slots; only ``__init__`` is compiled
(it must have the fields as its parameters, with their defaults); equality,
hashing, repr and immutability are shared functions over the field values.
Type checkers see a frozen dataclass (``dataclass_transform``).

What it supports is what pgpart's records use: fields with a default or a
``default_factory``, ``__post_init__``, ``ClassVar``, ``Generic`` records;
methods the class defines itself (``__repr__``, ...) are kept. Not for
subclassing one record by another.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import MISSING, FrozenInstanceError, field
from operator import attrgetter
from typing import Any, TypeVar

if sys.version_info >= (3, 11):
    from typing import dataclass_transform
else:  # pragma: no cover - Python 3.10
    from typing_extensions import dataclass_transform

T = TypeVar("T")

_FACTORY = object()  # the default of a parameter whose field has a default_factory


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[T]) -> type[T]:
    """``@dataclass(frozen=True, slots=True)``, faster to define (see module)."""
    made: Any = dataclasses.dataclass(init=False, repr=False, eq=False, slots=True)(cls)
    fields = dataclasses.fields(made)
    names = tuple(f.name for f in fields)
    values = _values(names)
    own = made.__dict__
    if "__init__" not in own:
        made.__init__ = _init(made, fields)
    if "__repr__" not in own:
        made.__repr__ = _repr(names, values)
    if "__eq__" not in own:
        made.__eq__ = _eq(values)
    if own.get("__hash__") is None:  # None: what defining __eq__ leaves
        made.__hash__ = _hash(values)
    made.__setattr__ = _frozen_setattr
    made.__delattr__ = _frozen_delattr
    made.__getstate__ = _getstate(values)
    made.__setstate__ = _setstate(names)
    return made  # type: ignore[no-any-return]


def _init(cls: Any, fields: tuple[dataclasses.Field[Any], ...]) -> Callable[..., None]:
    """The one compiled function: the fields are its parameters."""
    env: dict[str, Any] = {"_set": object.__setattr__, "_FACTORY": _FACTORY}
    params, body = [], []
    for f in fields:
        n = f.name
        if f.default is not MISSING:
            env[f"_d_{n}"] = f.default
            params.append(f"{n}=_d_{n}")
            body.append(f" _set(self, {n!r}, {n})")
        elif f.default_factory is not MISSING:
            env[f"_f_{n}"] = f.default_factory
            params.append(f"{n}=_FACTORY")
            body.append(f" _set(self, {n!r}, _f_{n}() if {n} is _FACTORY else {n})")
        else:
            params.append(n)
            body.append(f" _set(self, {n!r}, {n})")
    if hasattr(cls, "__post_init__"):
        body.append(" self.__post_init__()")
    source = f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(body) or " pass")
    made: dict[str, Any] = {}
    exec(source, env, made)
    init: Callable[..., None] = made["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    return init


def _values(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


def _repr(names: tuple[str, ...], values: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any], str]:
    def __repr__(self: Any) -> str:
        pairs = ", ".join(f"{n}={v!r}" for n, v in zip(names, values(self), strict=True))
        return f"{self.__class__.__qualname__}({pairs})"

    return __repr__


def _eq(values: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any, object], Any]:
    def __eq__(self: Any, other: object) -> Any:
        if other.__class__ is self.__class__:
            return values(self) == values(other)
        return NotImplemented

    return __eq__


def _hash(values: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any], int]:
    def __hash__(self: Any) -> int:
        return hash(values(self))

    return __hash__


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _getstate(values: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any], tuple[Any, ...]]:
    def __getstate__(self: Any) -> tuple[Any, ...]:
        return values(self)

    return __getstate__


def _setstate(names: tuple[str, ...]) -> Callable[[Any, tuple[Any, ...]], None]:
    def __setstate__(self: Any, state: tuple[Any, ...]) -> None:
        for n, v in zip(names, state, strict=True):
            object.__setattr__(self, n, v)

    return __setstate__
