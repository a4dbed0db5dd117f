"""pgpart.core.record: the same class as @dataclass(frozen=True, slots=True),
defined faster (it is every record's decorator, so every command's start)."""

from __future__ import annotations

import ast
import copy
import dataclasses
import pickle
import time
from dataclasses import FrozenInstanceError, dataclass, field
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

import pytest

from pgpart.core.record import record

T = TypeVar("T")
PGPART = Path(__file__).resolve().parents[2] / "pgpart"


@record
class Sample:
    """A record with every kind of field pgpart's records have."""

    name: str
    size: int = 0
    tags: tuple[str, ...] = ()
    seen: list[int] = field(default_factory=list)
    LIMIT: ClassVar[int] = 10


@dataclass(frozen=True, slots=True)
class Reference:
    """The same fields, made by the standard library."""

    name: str
    size: int = 0
    tags: tuple[str, ...] = ()
    seen: list[int] = field(default_factory=list)
    LIMIT: ClassVar[int] = 10


@record
class Normalised:
    count: int
    unit: str = "day"

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("at least one")
        if self.unit == "day" and self.count % 7 == 0:
            object.__setattr__(self, "unit", "week")
            object.__setattr__(self, "count", self.count // 7)


@record
class Boxed(Generic[T]):
    value: T


@record
class Spoken:
    word: str

    def __repr__(self) -> str:
        return f"<{self.word}>"


@record
class Empty:
    pass


def test_fields_defaults_and_factories_are_the_dataclass_ones() -> None:
    assert [f.name for f in dataclasses.fields(Sample)] == ["name", "size", "tags", "seen"]
    assert dataclasses.is_dataclass(Sample("x"))
    a, b = Sample("x"), Sample("x")
    assert (a.size, a.tags, a.seen) == (0, (), [])
    assert a.seen is not b.seen  # a new list per instance, as default_factory means
    assert Sample("x", 3, ("t",), [1]) == Sample(name="x", size=3, tags=("t",), seen=[1])
    assert Sample.LIMIT == 10
    with pytest.raises(TypeError):
        Sample()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Sample("x", nope=1)  # type: ignore[call-arg]


def test_equality_hash_and_repr_match_the_standard_librarys() -> None:
    assert Sample("x", 1, ("a",)) == Sample("x", 1, ("a",))
    assert Sample("x", 1) != Sample("x", 2)
    other: object = Reference("x")
    assert Sample("x") != other  # another class is never equal
    week = Normalised(1, "week")
    assert hash(week) == hash(Normalised(7)) and hash(week) != hash(Normalised(2))
    assert {week, Normalised(7)} == {week}
    with pytest.raises(TypeError, match="unhashable"):
        hash(Sample("x"))  # a list field, as with the standard library's
    assert repr(Sample("x", 1)) == repr(Reference("x", 1)).replace("Reference", "Sample")
    assert repr(Spoken("hi")) == "<hi>"  # the class's own method is kept
    assert repr(Empty()) == "Empty()" and Empty() == Empty() and hash(Empty()) == hash(())


def test_records_are_frozen_and_slotted() -> None:
    s = Sample("x")
    with pytest.raises(FrozenInstanceError):
        s.size = 2  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del s.size
    with pytest.raises((FrozenInstanceError, AttributeError)):
        s.other = 1  # type: ignore[attr-defined]
    assert not hasattr(s, "__dict__")
    assert vars(Sample)["__slots__"] == ("name", "size", "tags", "seen")


def test_post_init_runs_and_may_normalise() -> None:
    assert Normalised(14) == Normalised(2, "week")
    with pytest.raises(ValueError, match="at least one"):
        Normalised(0)


def test_the_dataclasses_functions_work_on_records() -> None:
    s = Sample("x", 1, ("a",), [2])
    assert dataclasses.replace(s, size=5) == Sample("x", 5, ("a",), [2])
    assert dataclasses.asdict(s) == {"name": "x", "size": 1, "tags": ("a",), "seen": [2]}
    assert dataclasses.astuple(s) == ("x", 1, ("a",), [2])
    assert Boxed(3) == Boxed(3) and dataclasses.replace(Boxed(3), value=4).value == 4
    match s:
        case Sample("x", 1):
            pass
        case _:
            pytest.fail("positional match on the fields")


def test_copies_and_pickles_round_trip() -> None:
    s = Sample("x", 1, ("a",), [2])
    for twin in (copy.copy(s), copy.deepcopy(s), pickle.loads(pickle.dumps(s))):
        assert twin == s and twin is not s
    assert copy.deepcopy(s).seen is not s.seen
    assert Normalised(7) == pickle.loads(pickle.dumps(Normalised(7)))


def _define(decorate: object, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):

        class C:
            """doc"""

            a: int
            b: str
            c: float
            d: int | None = None
            e: tuple[int, ...] = ()

        decorate(C)  # type: ignore[operator]
    return time.perf_counter() - start


def test_defining_a_record_costs_well_under_a_dataclass() -> None:
    """What the module is for: 0.13 ms against 0.5 ms a class here."""
    ours = min(_define(record, 100) for _ in range(3))
    theirs = min(_define(dataclass(frozen=True, slots=True), 100) for _ in range(3))
    assert ours < 0.6 * theirs, (ours, theirs)


def test_pgparts_records_are_all_made_with_record() -> None:
    """A new @dataclass(frozen=True, slots=True) would cost every command's
    start again what record saves."""
    slow = []
    for path in PGPART.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                for deco in node.decorator_list:
                    if (
                        isinstance(deco, ast.Call)
                        and getattr(deco.func, "id", None) == "dataclass"
                        and any(k.arg == "frozen" for k in deco.keywords)
                    ):
                        slow.append(f"{path.relative_to(PGPART)}: {node.name}")
    assert not slow, slow
