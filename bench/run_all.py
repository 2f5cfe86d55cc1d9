"""Run every bench/bench_*.py and write bench/results/REPORT.md: figure, measured value, goal.

Usage: python bench/run_all.py [--quick]   (--quick is passed on to each script)
       python bench/run_all.py --report-only   (the report from the stored results, after running one bench alone)
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


DEVICE = """
import vizcore._quiet, tensorflow as tf
gpus = tf.config.list_physical_devices("GPU")
names = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name) for gpu in gpus]
print(", ".join(names) if names else "no GPU: TensorFlow runs on the CPU")
"""


def device() -> str:
    """What TensorFlow computes on here (every bench runs there unchanged)."""
    out = subprocess.run([sys.executable, "-c", DEVICE], cwd=HERE.parent, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1] if out.returncode == 0 and out.stdout.strip() else "unknown device"


def main(argv: list[str]) -> int:
    RESULTS.mkdir(exist_ok=True)
    failed = []
    scripts = [] if "--report-only" in argv else sorted(HERE.glob("bench_*.py"))
    for script in scripts:
        print(f"== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script), *argv], cwd=HERE.parent).returncode != 0:
            failed.append(script.name)
    when = ("Stored results, each from its bench's latest run; reported" if not scripts else "Measured")
    lines = [f"{when} {datetime.date.today()} on {machine()}; device: {device()}.", "",
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
