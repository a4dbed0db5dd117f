"""Prometheus text exposition (node_exporter's textfile collector): samples and labels."""

from __future__ import annotations

import math


def label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metric(lines: list[str], name: str, help_text: str, samples: list[tuple[str, float]]) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} gauge")
    for labels, value in samples:
        text = (
            "+Inf"
            if math.isinf(value)
            else repr(float(value))
            if isinstance(value, float) and not value.is_integer()
            else str(int(value))
        )
        lines.append(f"{name}{{{labels}}} {text}" if labels else f"{name} {text}")
