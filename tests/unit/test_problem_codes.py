"""Problem codes are one enum (ProblemCode) whose members print, serialize
and compare as their bare value, so output stays what it was, and every
code pgpart reports or tests for is a member."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pgpart.core.plan import ProblemCode

PGPART = Path(__file__).resolve().parents[2] / "pgpart"


def _sources() -> dict[Path, str]:
    return {p: p.read_text(encoding="utf-8") for p in PGPART.rglob("*.py")}


def test_a_member_reads_as_its_bare_value() -> None:
    code = ProblemCode.MISSING_CURRENT
    assert f"{code}: x" == "missing_current: x"
    assert f"{code:>17}" == "  missing_current"
    assert str(code) == "missing_current" and code == "missing_current"
    assert json.dumps({"code": code}) == '{"code": "missing_current"}'
    assert code in frozenset({"missing_current"})
    assert ProblemCode("missing_current") is code


def test_every_member_is_reported_somewhere() -> None:
    sources = {p: s for p, s in _sources().items() if p.name != "plan.py"}
    text = "\n".join(sources.values())
    unused = [
        c.name for c in ProblemCode if f"ProblemCode.{c.name}" not in text and f'"{c}"' not in text
    ]
    assert not unused, f"members no module reports: {unused}"


def test_codes_are_compared_as_members_never_as_strings() -> None:
    from pgpart.cli.problem_codes import BAD_CONFIG_CODES, REFUSED_CODES, WITHHOLDING_CODES

    for codes in (BAD_CONFIG_CODES, REFUSED_CODES, WITHHOLDING_CODES):
        assert all(isinstance(c, ProblemCode) for c in codes)
    compared = {
        (path.name, code)
        for path, source in _sources().items()
        for code in re.findall(r"\.code (?:==|!=|is|is not) \"([a-z_]+)\"", source)
    }
    assert not compared, f"compare with ProblemCode members instead: {sorted(compared)}"
