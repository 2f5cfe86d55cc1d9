"""Model start-up: cold (weights converted from the .pth) and warm (cached .weights.h5), peak memory.

Each start runs in a fresh subprocess, so TensorFlow's import and the model build are counted
the way a user meets them. Usage: python bench/bench_startup.py [--quick]
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from common import row, write_rows

PROBE = r"""
import json, resource, time
t0 = time.perf_counter()
import vizcore, vizcore.models
t1 = time.perf_counter()
vm = vizcore.load_model("efficientnet_lite0")
t2 = time.perf_counter()
image = vizcore.load_image("assets/samples/grace_hopper.jpg")
top = vm.predict(image)[0]
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "first_predict": t3 - t2, "label": top.label,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def start(cache_dir: str) -> dict:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "VIZCORE_CACHE_DIR": cache_dir}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=root, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as cache_dir:
        cold = start(cache_dir)
        warm = min((start(cache_dir) for _ in range(2)), key=lambda r: r["load"])
    assert cold["label"] == warm["label"] == "military uniform"
    print(json.dumps({"cold": cold, "warm": warm}, indent=1))
    write_rows("startup", [
        row("Lite0 cold start: convert .pth + build (s)", cold["load"], "s", "one-off, cached after", True),
        row("Lite0 warm start: build + cached weights (s)", warm["load"], "s", "< cold start", warm["load"] < cold["load"]),
        row("TensorFlow + vizcore import (s)", warm["import"], "s", "-", True),
        row("Peak RSS, load + first prediction (MB)", warm["peak_rss_mb"], "MB", "< 3000", warm["peak_rss_mb"] < 3000),
    ])


if __name__ == "__main__":
    main()
