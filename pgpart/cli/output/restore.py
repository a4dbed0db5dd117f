"""What `pgpart restore` prints: one line saying what came back and where,
and until when retention leaves it alone (JSON: the whole result)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pgpart.db.archive.restore import Restored


def render_restore(result: Restored, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"restore": asdict(result)}, indent=2, ensure_ascii=False) + "\n"
    span = f"[{result.lower}, {result.upper})"
    what = f"{result.table} ({result.rows} rows, sha256 verified, the table alone)"
    kept = f"kept until {result.kept_until} (retention leaves it alone until then)"
    if result.dry_run:
        where = f" and attach it to {result.parent} for {span} if that range is free"
        return (
            f"would restore {what} from {result.dump}"
            f"{where if result.parent else ' as a plain table'}, {kept}\n"
            f"  {result.command}\n"
        )
    if result.attached:
        return f"restored {what} and attached it to {result.parent} for {span}; {kept}\n"
    return (
        f"restored {what} as a plain table, not attached"
        f"{' to ' + result.parent if result.parent else ''}: {result.why}; {kept}\n"
    )
