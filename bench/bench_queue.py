"""Sharing one process between users, in the engine: how to run long runs (one at a time, two, two
with fewer TensorFlow threads each) and how long a Grad-CAM map waits while they run.

Each way runs in a fresh process (TensorFlow's thread pools are fixed once it starts): Lite0 is
loaded and traced, then LONG_RUNS classic 16-filter grids start together (each from its own user,
as a class would press Run), while a short-request thread asks for a Grad-CAM map every
SHORT_GAP_SECONDS and times each answer. Figures are ratios against the same process's own
"alone" timings: the runs one after another without a queue (with TensorFlow's own thread
count), a map with nothing else going.
"no queue" is what the app did before: every run at once, nobody gives way.
Usage: python bench/bench_queue.py [--quick]
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time

from common import row, write_rows

PHOTO = "assets/samples/grace_hopper.jpg"
LONG_RUNS = 4
SHORT_GAP_SECONDS = 0.5
WAYS = {  # name: (runs at once or 0 for no queue, TensorFlow intra-op threads or 0 for its default)
    "no queue (before)": (0, 0),
    "one at a time": (1, 0),
    "two at once": (2, 0),
    "two at once, 1 thread each": (2, 1),
}
LATENCY_GOAL = 5.0  # s, worst Grad-CAM answer while long runs go on (the goal, with 16 sessions)


def one_way(runs_at_once: int, threads: int, steps: int) -> dict:
    """In this (fresh) process: the long runs with a map asked for all along; the figures as a dict."""
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    import vizcore
    from vizcore import cam, filters, scheduler

    vm = vizcore.load_model("efficientnet_lite0")
    photo = vm.resize_for_input(vizcore.load_image(PHOTO))
    layers = [info.name for info in vm.conv_layers()][10:10 + LONG_RUNS]
    for layer in layers:  # traced once per layer: tracing is not what is measured
        list(filters.visualize(vm, layer, range(16), steps=2))
    cam.heatmap(vm, photo)

    def grid(layer: str, seed: int) -> None:
        for _ in filters.visualize(vm, layer, range(16), steps=steps, seed=seed):
            pass

    alone_map = statistics.median(timed(lambda: cam.heatmap(vm, photo)) for _ in range(5))
    started = time.perf_counter()
    for number, layer in enumerate(layers):
        grid(layer, 100 + number)
    one_after_another = time.perf_counter() - started

    queue = scheduler.RunQueue(runs_at_once=max(runs_at_once, 1), length=LONG_RUNS)
    finished: list[float] = []

    def long_run(number: int, layer: str) -> None:
        if runs_at_once:
            with queue.turn(f"user {number}", "filters"):
                grid(layer, 200 + number)
        else:
            grid(layer, 200 + number)
        finished.append(time.perf_counter() - started)

    latencies: list[float] = []
    runners = [threading.Thread(target=long_run, args=(n, layer)) for n, layer in enumerate(layers)]
    started = time.perf_counter()
    for runner in runners:
        runner.start()
    while any(runner.is_alive() for runner in runners):
        with scheduler.short_work(queue):
            latencies.append(timed(lambda: cam.heatmap(vm, photo)))
        time.sleep(SHORT_GAP_SECONDS)
    for runner in runners:
        runner.join()
    return {"alone_map": alone_map, "one_after_another": one_after_another, "all_runs": max(finished),
            "first_done": min(finished), "median_map": statistics.median(latencies), "worst_map": max(latencies),
            "maps": len(latencies)}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--way":
        print(json.dumps(one_way(int(argv[1]), int(argv[2]), int(argv[3]))))
        return
    steps = 10 if "--quick" in argv else 30
    load_start = os.getloadavg()[0]
    results = {}
    for name, (runs_at_once, threads) in WAYS.items():
        out = subprocess.run([sys.executable, __file__, "--way", str(runs_at_once), str(threads), str(steps)],
                             capture_output=True, text=True, check=True, cwd=os.path.dirname(os.path.dirname(
                                 os.path.abspath(__file__))))
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])
        print(name, results[name], flush=True)
    rows = [row("machine load average (1 min) at the start: other processes share the cores", load_start, "", "",
                True)]
    sequential = results["one at a time"]["one_after_another"]  # TensorFlow's own thread count
    for name, r in results.items():
        rows += [
            row(f"{name}: Grad-CAM median while {LONG_RUNS} grids run / alone", r["median_map"] / r["alone_map"],
                "x", "-", True),
            row(f"{name}: Grad-CAM worst while they run (s)", r["worst_map"], "s", f"<= {LATENCY_GOAL:g}",
                r["worst_map"] <= LATENCY_GOAL),
            row(f"{name}: all {LONG_RUNS} grids / one after another alone, default threads",
                r["all_runs"] / sequential, "x", "-", True),
            row(f"{name}: first grid done (s)", r["first_done"], "s", "-", True),
        ]
    rows.append(row("machine load average (1 min) at the end", os.getloadavg()[0], "", "", True))
    write_rows("queue", rows)


if __name__ == "__main__":
    main(sys.argv[1:])
