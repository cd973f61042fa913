"""One definition of every metric (SPEC.md "Metrics"), used by runs, suites and reports alike."""

from __future__ import annotations

import math
from typing import Iterable, Sequence

FRACTIONS = (0.25, 0.5, 0.75, 1.0)


def steps_to_target(curve: Sequence[dict], target: float | None) -> int | None:
    """First evaluated step whose accuracy >= target (pre- and post-jump evaluations included)."""
    if target is None:
        return None
    for point in curve:
        if point["accuracy"] >= target:
            return int(point["step"])
    return None


def best(curve: Sequence[dict]) -> tuple[float | None, int | None]:
    """Max accuracy and the first step it was reached at."""
    if not curve:
        return None, None
    top = max(p["accuracy"] for p in curve)
    return top, next(int(p["step"]) for p in curve if p["accuracy"] == top)


def accuracy_at_fractions(curve: Sequence[dict], steps: int) -> dict[str, float | None]:
    """Accuracy of the last evaluation at or before each fraction of the budget."""
    out = {}
    for f in FRACTIONS:
        limit = f * steps
        seen = [p["accuracy"] for p in curve if p["step"] <= limit]
        out[f"{int(f * 100)}"] = seen[-1] if seen else None
    return out


def median(values: Iterable[float]) -> float | None:
    vals = sorted(v for v in values if v is not None and not math.isnan(v))
    if not vals:
        return None
    mid = len(vals) // 2
    return vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2


def median_curve(curves: Sequence[Sequence[dict]]) -> list[dict]:
    """Median accuracy over seeds at each step that every curve evaluated (pre-jump points left out)."""
    by_step: dict[int, list[float]] = {}
    for curve in curves:
        for p in curve:
            if p.get("phase", "eval") in ("eval", "post_jump"):
                by_step.setdefault(int(p["step"]), []).append(p["accuracy"])
    return [{"step": s, "accuracy": median(v)} for s, v in sorted(by_step.items()) if len(v) == len(curves)]
