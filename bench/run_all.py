"""Run every bench/bench_*.py and write bench/results/REPORT.md: figure, measured value, goal.

Usage: python bench/run_all.py [--quick]   (--quick is passed on to each script)
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def main(argv: list[str]) -> int:
    RESULTS.mkdir(exist_ok=True)
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script), *argv], cwd=HERE.parent).returncode != 0:
            failed.append(script.name)
    lines = [f"Measured {datetime.date.today()} on {machine()}.", "",
             "| bench | figure | measured | goal | met |", "| --- | --- | --- | --- | --- |"]
    for result in sorted(RESULTS.glob("*.json")):
        for r in json.loads(result.read_text()):
            lines.append(f"| {result.stem} | {r['figure']} | {r['value']:g} {r['unit']} | {r['goal']} | "
                         f"{'yes' if r['ok'] else '**no**'} |")
    if failed:
        lines += ["", "Failed to run: " + ", ".join(failed)]
    (RESULTS / "REPORT.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
