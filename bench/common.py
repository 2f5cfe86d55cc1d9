"""Shared bench helpers: timing by the median or the fastest of repeats, and writing result rows for run_all."""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def call_seconds(fn, repeats: int = 5, warmup: int = 1) -> list[float]:
    """Wall time of each of ``repeats`` calls of ``fn()`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_seconds(fn, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    return statistics.median(call_seconds(fn, repeats, warmup))


def fastest_seconds(fn, repeats: int = 5, warmup: int = 1) -> float:
    """Shortest wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls: the time least
    inflated by other processes on a shared machine (as ``timeit`` advises), for costs compared as ratios."""
    return min(call_seconds(fn, repeats, warmup))


def row(figure: str, value: float, unit: str, goal: str, ok: bool) -> dict:
    return {"figure": figure, "value": round(float(value), 4), "unit": unit, "goal": goal, "ok": bool(ok)}


def write_rows(name: str, rows: list[dict]) -> None:
    """Print rows as a table and store them in bench/results/<name>.json for run_all."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(rows, indent=1))
    for r in rows:
        print(f"{'ok ' if r['ok'] else 'MISS'} {r['figure']:<60} {r['value']:>10g} {r['unit']:<6} goal: {r['goal']}")
