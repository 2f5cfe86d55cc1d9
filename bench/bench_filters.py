"""Filters: batched ascent against the references' one-filter-at-a-time loop, step overhead,
first-frame latency, peak memory, XLA, and the batch-size sweep behind CHUNK_PIXELS.

Speed: ``vizcore.filters.visualize`` (64 filters, 30 steps, 180 px, classic, every frame taken)
against the Keras example's loop, one filter after another, its ``gradient_ascent_step``
compiled once with an input signature (so it is traced once, not once per filter). Both in one
process on the same layer, interleaved after a warm-up, median of the repeats.
Overhead: the median time between two streamed frames against a bare compiled forward/backward
(the objective's gradient, nothing else) on the same chunks, for classic and robust mode.
Latency and memory: fresh subprocesses with the model loaded; the first frame's delay includes
tracing the step (cold) or not (warm); memory is the process's ru_maxrss.
Usage: python bench/bench_filters.py [--quick]
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import row, write_rows

ROOT = Path(__file__).resolve().parent.parent
MODEL = "efficientnet_lite0"
LAYER = "block5a_expand_conv"  # the Filters page's default: Lite0's middle convolution
SPEEDUP_GOAL = 1.5             # batched / one at a time
OVERHEAD_GOAL = 0.15           # streamed step / bare forward-backward − 1
FIRST_FRAME_GOAL = 3.0         # seconds from the call to the first frame, model loaded
MEMORY_GOAL_MB = 3 * 1024      # peak RSS for 64 filters at 180 px

CHILD = r"""
import json, resource, sys, time
import vizcore
from vizcore import filters
vm = vizcore.load_model(sys.argv[1])
mode, layer, count, size, steps, chunk = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
loaded_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
result = {"loaded_mb": loaded_mb}
for name, first in (("cold", 0), ("warm", count)):
    start = time.perf_counter()
    frames = filters.visualize(vm, layer, range(first, first + count), mode=mode, size=size, steps=steps, seed=0,
                               chunk_size=chunk or None)
    next(frames)
    result[name] = time.perf_counter() - start
    for frame in frames:
        pass
result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(result))
"""


def child(mode: str, count: int, size: int, steps: int, chunk: int = 0) -> dict:
    """Run CHILD in a fresh interpreter: first-frame delays (cold, warm) and peak memory."""
    out = subprocess.run([sys.executable, "-c", CHILD, MODEL, mode, LAYER, str(count), str(size), str(steps), str(chunk)],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def reference_loop(vm, layer: str, size: int):
    """The Keras example's visualize_filter, compiled once: one filter at a time."""
    import tensorflow as tf
    from vizcore import filters
    from vizcore.models import SCALINGS
    extractor, forward = vm.extractor([layer]), SCALINGS[vm.scaling].forward

    @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3]), tf.TensorSpec([], tf.int32), tf.TensorSpec([])])
    def gradient_ascent_step(img, filter_index, learning_rate):
        with tf.GradientTape() as tape:
            tape.watch(img)
            activation = extractor(forward((img + 1.0) * 127.5))
            loss = tf.reduce_mean(activation[:, 2:-2, 2:-2, filter_index])
        grads = tf.math.l2_normalize(tape.gradient(loss, img))
        return loss, img + learning_rate * grads

    def visualize_filters(indices, steps: int, lr: float = 10.0):
        images = []
        for filter_index in indices:
            img = (tf.random.uniform((1, size, size, 3)) - 0.5) * 0.25
            for _ in range(steps):
                loss, img = gradient_ascent_step(img, tf.constant(filter_index), tf.constant(lr))
            images.append(filters.deprocess(img.numpy())[0])
        return images
    return visualize_filters


def bare_step(vm, layer: str, robust: bool):
    """The objective's gradient for a batch, nothing else (no update, no transforms, no frames)."""
    import tensorflow as tf
    from vizcore import filters
    from vizcore.models import SCALINGS
    extractor, forward = vm.extractor([layer]), SCALINGS[vm.scaling].forward

    @tf.function(input_signature=[filters.IMAGES, filters.INDICES])
    def gradient(images, indices):
        with tf.GradientTape() as tape:
            tape.watch(images)
            total = tf.reduce_sum(filters.mean_activations(extractor(forward(images)), indices,
                                                           0 if robust else filters.FEATURE_BORDER))
        return tape.gradient(total, images)
    return gradient


def time_speedup(vm, count: int, steps: int, size: int, repeats: int) -> tuple[float, float]:
    """Median seconds of (batched visualize, reference loop), interleaved."""
    from vizcore import filters
    reference = reference_loop(vm, LAYER, size)
    reference([0], 1)
    for _ in filters.visualize(vm, LAYER, range(2), steps=1, size=size, seed=0):
        pass
    batched_times, reference_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in filters.visualize(vm, LAYER, range(count), steps=steps, size=size, seed=0):
            pass
        batched_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        reference(range(count), steps)
        reference_times.append(time.perf_counter() - start)
        print(f"  batched {batched_times[-1]:.1f} s, one at a time {reference_times[-1]:.1f} s", flush=True)
    return statistics.median(batched_times), statistics.median(reference_times)


def time_overhead(vm, mode: str, count: int, size: int, steps: int, bare_size: int, skip: int) -> tuple[float, float]:
    """(median seconds between streamed frames, median seconds of a bare step on the same chunks)."""
    import numpy as np
    import tensorflow as tf
    from vizcore import filters
    stamps = []
    for _ in filters.visualize(vm, LAYER, range(count), mode=mode, size=size, steps=steps, seed=0):
        stamps.append(time.perf_counter())
    streamed = statistics.median(np.diff(stamps[skip:-1]))  # the last frame also measures the finished images
    ascent = (filters.ClassicAscent if mode == "classic" else filters.RobustAscent)(
        vm, LAYER, filters.settings(vm, mode, size=size))
    chunks = np.array_split(np.arange(count), -(-count // ascent.chunk_size()))
    gradient = bare_step(vm, LAYER, mode == "robust")
    batches = [(tf.random.uniform([len(c), bare_size, bare_size, 3]), tf.constant(c, tf.int32)) for c in chunks]
    gradient(*batches[0]).numpy()
    bare = []
    for _ in range(max(3, steps - skip)):
        start = time.perf_counter()
        for images, indices in batches:
            gradient(images, indices).numpy()
        bare.append(time.perf_counter() - start)
    return streamed, statistics.median(bare)


def time_batch_sizes(vm, size: int, sizes: list[int]) -> dict[int, float]:
    """ms per image-step of the classic step at each batch size (the sweep behind CHUNK_PIXELS)."""
    import tensorflow as tf
    from vizcore import filters
    ascent = filters.ClassicAscent(vm, LAYER, filters.settings(vm, "classic", size=size))
    result = {}
    for batch in sizes:
        indices = tf.range(batch, dtype=tf.int32)
        images = ascent.start(indices, 0)
        ascent.step(images, indices, 1, 0)
        repeats = max(3, 48 // batch)
        start = time.perf_counter()
        for step in range(repeats):
            images, activations, _ = ascent.step(images, indices, step, 0)
        activations.numpy()
        result[batch] = (time.perf_counter() - start) / repeats / batch * 1000
        print(f"  batch {batch:>3}: {result[batch]:.1f} ms per image-step", flush=True)
    return result


def time_xla(vm, size: int, batch: int) -> tuple[float, float, float]:
    """(plain ms per image-step, XLA ms per image-step, XLA compile seconds) of the classic step."""
    import tensorflow as tf
    from vizcore import filters
    ascent = filters.ClassicAscent(vm, LAYER, filters.settings(vm, "classic", size=size))
    xla = tf.function(ascent._step.python_function, input_signature=ascent._step.input_signature, jit_compile=True)
    indices = tf.range(batch, dtype=tf.int32)
    images, lr = ascent.start(indices, 0), tf.constant(10.0)
    start = time.perf_counter()
    xla(images, indices, lr)[1].numpy()
    compile_seconds = time.perf_counter() - start
    per_step = {}
    for name, step in (("plain", ascent._step), ("xla", xla)):
        step(images, indices, lr)[1].numpy()
        start = time.perf_counter()
        for _ in range(2):
            step(images, indices, lr)[1].numpy()
        per_step[name] = (time.perf_counter() - start) / 2 / batch * 1000
    return per_step["plain"], per_step["xla"], compile_seconds


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    count, steps, size = (16, 10, 180) if quick else (64, 30, 180)
    import vizcore
    vm = vizcore.load_model(MODEL)
    rows = []

    print(f"{count} filters × {steps} steps × {size} px, classic, {LAYER}: batched vs one at a time", flush=True)
    batched, reference = time_speedup(vm, count, steps, size, 1 if quick else 3)
    speedup = reference / batched
    rows += [row(f"batched {count} filters × {steps} steps, {size} px (classic, {LAYER})", batched, "s", "", True),
             row("one filter at a time (Keras example loop, compiled once)", reference, "s", "", True),
             row("speed-up of batching", speedup, "×", f"≥ {SPEEDUP_GOAL}", speedup >= SPEEDUP_GOAL),
             row("batched: ms per image-step", batched / count / steps * 1000, "ms", "", True),
             row("one at a time: ms per image-step", reference / count / steps * 1000, "ms", "", True)]

    print("per-step overhead over a bare forward/backward", flush=True)
    for mode, mode_count, mode_size, mode_steps, bare_size, skip in (
            ("classic", count, size, 8 if quick else 12, size, 1),
            ("robust", 16 if quick else 32, 128, 22 if quick else 26, 128 + 24 - 8 - 4, 18)):
        streamed, bare = time_overhead(vm, mode, mode_count, mode_size, mode_steps, bare_size, skip)
        overhead = streamed / bare - 1
        print(f"  {mode}: streamed step {streamed * 1000:.0f} ms, bare {bare * 1000:.0f} ms", flush=True)
        rows.append(row(f"{mode}: step overhead over bare fwd/bwd ({mode_count} filters, {mode_size} px)",
                        overhead * 100, "%", f"≤ {OVERHEAD_GOAL:.0%}", overhead <= OVERHEAD_GOAL))

    print("first frame and memory (fresh processes)", flush=True)
    for mode, mode_size in (("classic", 180), ("robust", 128)):
        probe = child(mode, 64, mode_size, 2)
        rows += [row(f"{mode}: first frame, 64 filters, cold (traces the step)", probe["cold"], "s",
                     f"≤ {FIRST_FRAME_GOAL:g}", probe["cold"] <= FIRST_FRAME_GOAL),
                 row(f"{mode}: first frame, 64 filters, warm", probe["warm"], "s", f"≤ {FIRST_FRAME_GOAL:g}",
                     probe["warm"] <= FIRST_FRAME_GOAL)]
        if mode == "classic":
            rows.append(row("peak memory, 64 filters at 180 px (chunked)", probe["peak_mb"], "MB",
                            f"< {MEMORY_GOAL_MB}", probe["peak_mb"] < MEMORY_GOAL_MB))
            rows.append(row("  of which the loaded model", probe["loaded_mb"], "MB", "", True))
    if not quick:
        single = child("classic", 64, 180, 2, chunk=64)
        rows.append(row("peak memory, 64 filters at 180 px in one batch (no chunks)", single["peak_mb"], "MB",
                        "", True))

    print("batch-size sweep", flush=True)
    sweep = time_batch_sizes(vm, size, [1, 4, 16] if quick else [1, 4, 8, 16, 32, 64])
    rows += [row(f"classic step, batch {batch}, {size} px: per image-step", ms, "ms", "", True)
             for batch, ms in sweep.items()]

    if not quick:
        print("XLA (jit_compile=True) against the plain compiled step", flush=True)
        plain, xla, compile_seconds = time_xla(vm, size, 16)
        rows += [row("classic step, batch 16: plain per image-step", plain, "ms", "", True),
                 row("classic step, batch 16: XLA per image-step", xla, "ms", "not used if slower", True),
                 row("XLA compile time", compile_seconds, "s", "", True)]
    write_rows("filters", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
