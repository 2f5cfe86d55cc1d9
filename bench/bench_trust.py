"""How far to trust a map, and how long it takes: the metric panel (deletion, insertion, ROAD), the
sanity check (3 stages) and the ranking (every method × the last 3 stages) on Lite0 at 224 px.

Medians of repeats after a warm-up, in one process; the sanity check's first call (which clones the
model and traces its view, what a user's first click costs) is timed apart. The machine's load
average is recorded beside, since the bench machine is shared.
Usage: python bench/bench_trust.py [--quick]
"""
from __future__ import annotations

import os
import sys
import time

from common import median_seconds, row, write_rows

PHOTO = "assets/samples/grace_hopper.jpg"
PANEL_GOAL = 3.0   # s, the metric panel of one map
SANITY_GOAL = 5.0  # s, the sanity check with 3 stages


def main(argv: list[str]) -> None:
    import vizcore
    from vizcore import cam

    repeats = 1 if "--quick" in argv else 3
    load_start = os.getloadavg()[0]
    vm = vizcore.load_model("efficientnet_lite0")
    photo = vm.resize_for_input(vizcore.load_image(PHOTO))  # 224 × 224
    result = cam.heatmap(vm, photo)
    start = time.perf_counter()
    cam.trust_metrics(vm, result)
    panel_first = time.perf_counter() - start
    panel = median_seconds(lambda: cam.trust_metrics(vm, result), repeats=repeats)
    start = time.perf_counter()
    report = cam.sanity_check(vm, cam.cam_request(vm, photo))
    sanity_first = time.perf_counter() - start
    sanity = median_seconds(lambda: cam.sanity_check(vm, cam.cam_request(vm, photo)), repeats=repeats, warmup=0)
    start = time.perf_counter()
    ranking = cam.rank_maps(vm, cam.cam_request(vm, photo))
    ranking_seconds = time.perf_counter() - start
    load_end = os.getloadavg()[0]
    best = ranking[0]
    write_rows("trust", [
        row("machine load average (1 min) at the start: other processes share the cores", load_start, "", "", True),
        row("metric panel, one map (deletion + insertion + ROAD, 41 photos), first call (s)", panel_first, "s",
            "-", True),
        row("metric panel, one map, warm (s)", panel, "s", f"<= {PANEL_GOAL:g}", panel <= PANEL_GOAL),
        row("sanity check, 3 stages, first call: clone + trace (s)", sanity_first, "s", f"<= {SANITY_GOAL:g}",
            sanity_first <= SANITY_GOAL),
        row("sanity check, 3 stages, again (copy kept, reset) (s)", sanity, "s", f"<= {SANITY_GOAL:g}",
            sanity <= SANITY_GOAL),
        row(f"sanity check verdict: passed, Spearman at {report.stages[-1].randomised_from}",
            report.stages[-1].spearman, "r", "< 0.5", report.passed),
        row(f"ranking, {len(cam.METHODS)} methods x {len(cam.ranking_layers(vm))} layers, "
            "Faster Score-CAM (s)", ranking_seconds, "s", "-", True),
        row(f"ranking's best: {best.method} on {best.layer}, score", best.score, "", "-", True),
        row("machine load average (1 min) at the end", load_end, "", "", True),
    ])


if __name__ == "__main__":
    main(sys.argv[1:])
