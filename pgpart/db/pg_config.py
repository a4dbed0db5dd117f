"""What the installed ``pg_config`` says (PostgreSQL's build settings)."""

from __future__ import annotations

import shutil
import subprocess


def pg_config(option: str, timeout_s: float) -> str | None:
    """``pg_config OPTION`` (e.g. ``--bindir``), or None when there is no
    pg_config on PATH, it fails, or it prints nothing."""
    tool = shutil.which("pg_config")
    if tool is None:
        return None
    try:
        done = subprocess.run(
            [tool, option], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None
