"""Filters: batched ascent against the references' one-filter-at-a-time loop, step overhead,
first-frame latency, peak memory, XLA, the batch-size sweep behind CHUNK_PIXELS, and the robust
default against the former one.

Speed: ``vizcore.filters.visualize`` (64 filters, 30 steps, 180 px, classic, every frame taken)
against the Keras example's loop, one filter after another, its ``gradient_ascent_step``
compiled once with an input signature (so it is traced once, not once per filter). Both in one
process on the same layer, run in turn after a warm-up; wall and CPU time, medians. Other
processes share this machine's 2 cores, so the load average is reported too.
Overhead: the time from one streamed frame to the next against a bare compiled forward/backward
(the objective's gradient, nothing else) on the same chunks, the two taken in turn; robust mode
is also compared with a bare forward/backward through its Fourier parameterisation.
Latency and memory: fresh subprocesses with the model loaded; the first frame's delay with and
without tracing; memory is the run's own peak (VmHWM reset after loading) and the process's.
Robust default: a 64-filter grid on a mid-depth layer at today's default (96 steps, Adam 0.1, the second
half settling) and at the former one (256 steps, Adam 0.05, the standard transforms throughout), time
and mean activation on the finished images; the activation ratio on 16 filters of three layers, and
their first 8 images of both side by side in bench/results/robust_former_vs_default.jpg.
Usage: python bench/bench_filters.py [--quick]
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import RESULTS as RESULTS_DIR
from common import row, write_rows

ROOT = Path(__file__).resolve().parent.parent
MODEL = "efficientnet_lite0"
LAYER = "block5a_expand_conv"  # the Filters page's default: Lite0's middle convolution
SPEEDUP_GOAL = 1.5             # batched / one at a time
OVERHEAD_GOAL = 0.15           # streamed step / bare forward-backward − 1
FIRST_FRAME_GOAL = 3.0         # seconds from the call to the first frame, model loaded
MEMORY_GOAL_MB = 3 * 1024      # peak RSS for 64 filters at 180 px
GRID_LAYER = "block5b_expand_conv"  # issue 13's robust 64-filter grid: a mid-depth Lite0 layer
QUALITY_LAYERS = ("block3a_expand_conv", "block5b_expand_conv", "block6c_expand_conv")  # early, middle, deep
FORMER_STEPS, FORMER_LR = 256, 0.05  # the robust default before issue 13 (no settling)
GRID_GOAL_S = 60               # the robust 64-filter grid on this 2-core CPU
ACTIVATION_GOAL = 0.95         # of the former default's mean activation

CHILD = r"""
import json, resource, sys, time
import vizcore
from vizcore import filters

def rss_mb(field):  # VmRSS now, or VmHWM: the peak since the last reset
    return int(next(l for l in open("/proc/self/status") if l.startswith(field)).split()[1]) / 1024

vm = vizcore.load_model(sys.argv[1])
mode, layer, count, size, steps, chunk = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
result = {}
def first_frame(first):
    start = time.perf_counter()
    frames = filters.visualize(vm, layer, range(first, first + count), mode=mode, size=size, steps=steps, seed=0,
                               chunk_size=chunk or None)
    next(frames)
    seconds = time.perf_counter() - start
    for frame in frames:
        pass
    return seconds
with open("/proc/self/clear_refs", "w") as clear_refs:
    clear_refs.write("5")  # VmHWM := VmRSS: what follows is the run's own peak
before = rss_mb("VmRSS")
result["cold"] = first_frame(0)                       # the process's first run: traces everything
result["own_peak_mb"] = rss_mb("VmHWM") - before
result["warm"] = first_frame(count)                   # a second run on the layer
layer = "block4c_expand_conv"
result["new_layer"] = first_frame(0)                  # another layer: traces its step
layer = "block4a_expand_conv"
start = time.perf_counter()
filters.prepare(vm, layer, mode)                      # what the page does while the user sets up
result["prepare"] = time.perf_counter() - start
result["prepared"] = first_frame(0)
result["process_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
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


def robust_run(vm, layer: str, count: int, steps: int | None = None, lr: float | None = None,
               settle: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """A robust grid of filters 0…count−1 (seed 0), its compiled steps traced beforehand: (seconds,
    each filter's activation on its finished image, the images). ``settle=False`` is the former
    default's way: the standard transforms to the last step."""
    import dataclasses

    from vizcore import ascent, filters, objectives, step_rules
    objective = objectives.channel(layer, range(count), border=filters.channel_border("robust")).checked(vm)
    method = step_rules.robust(vm) if settle else dataclasses.replace(step_rules.robust(vm), settle_share=0.0)
    run = filters.settings(vm, "robust", steps=steps, lr=lr, seed=0)
    seeds = np.array([(0, index) for index in range(count)], np.int32)
    filters.prepare(vm, layer, "robust")
    start = time.perf_counter()
    for frame in ascent.climb(vm, objective, method, run, seeds, every=run.steps):
        pass
    return time.perf_counter() - start, frame.activations, frame.images


def compare_robust_defaults(vm, grid_count: int, layer_count: int) -> tuple[list[dict], list]:
    """Issue 13: today's robust default against the former one (256 steps at Adam 0.05, the standard
    transforms throughout), side by side in this process: a grid on GRID_LAYER, then ``layer_count``
    filters on each of QUALITY_LAYERS (activation on the finished images, the same forward pass)."""
    from vizcore import filters
    rows, pictures = [], []
    load = os.getloadavg()[0]
    now, now_activations, _ = robust_run(vm, GRID_LAYER, grid_count)
    before, before_activations, _ = robust_run(vm, GRID_LAYER, grid_count, FORMER_STEPS, FORMER_LR, settle=False)
    ratio = float(np.mean(now_activations) / np.mean(before_activations))
    print(f"  {grid_count} filters of {GRID_LAYER}: {now:.1f} s against {before:.1f} s, activation {ratio:.1%}",
          flush=True)
    settings = f"{filters.ROBUST_STEPS} steps, lr {filters.ROBUST_LR:g}, settling"
    rows += [row("robust grid: machine load average (1 min) at the start", load, "", "", True),
             row(f"robust grid, {grid_count} filters of {GRID_LAYER}, default ({settings})", now, "s",
                 f"≤ {GRID_GOAL_S}" if grid_count == 64 else "", now <= GRID_GOAL_S or grid_count != 64),
             row(f"the same grid at the former default ({FORMER_STEPS} steps, lr {FORMER_LR:g})", before, "s", "",
                 True),
             row("robust grid: speed-up of the default over the former one", before / now, "×", "", True),
             row("robust grid: mean activation, default / former default", ratio * 100, "%",
                 f"≥ {ACTIVATION_GOAL:.0%}", ratio >= ACTIVATION_GOAL)]
    for layer in QUALITY_LAYERS:
        _, now_activations, now_images = robust_run(vm, layer, layer_count)
        _, before_activations, before_images = robust_run(vm, layer, layer_count, FORMER_STEPS, FORMER_LR,
                                                          settle=False)
        ratio = float(np.mean(now_activations) / np.mean(before_activations))
        print(f"  {layer_count} filters of {layer}: activation {ratio:.1%}", flush=True)
        rows.append(row(f"robust, {layer_count} filters of {layer}: mean activation, default / former default",
                        ratio * 100, "%", f"≥ {ACTIVATION_GOAL:.0%}", ratio >= ACTIVATION_GOAL))
        pictures += [before_images[:8], now_images[:8]]
    return rows, pictures


def save_side_by_side(pictures: list, path: Path) -> None:
    """The first 8 filters of each quality layer: the former default's row above today's."""
    from PIL import Image

    from vizcore import drawing
    images = np.concatenate(pictures)
    Image.fromarray(drawing.grid(images, cols=len(pictures[0]))).save(path, quality=88)


def bare_step(vm, layer: str, robust: bool, parameterised: bool = False):
    """The objective's gradient for a batch, nothing else (no update, no transforms, no frames).

    ``parameterised``: from a robust spectrum through the Fourier parameterisation, the image
    padded to the transforms' mean size, so that only transforms, Adam and frames are left out.
    """
    import tensorflow as tf

    from vizcore import filters, param
    from vizcore.models import SCALINGS
    extractor, forward = vm.extractor([layer]), SCALINGS[vm.scaling].forward
    spec = filters.SPECTRUM if parameterised else filters.IMAGES

    @tf.function(input_signature=[spec, filters.INDICES])
    def gradient(source, indices):
        with tf.GradientTape() as tape:
            tape.watch(source)
            images = tf.pad(param.to_rgb(source), [[0, 0], [6, 6], [6, 6], [0, 0]]) * 255 if parameterised else source
            total = tf.reduce_sum(filters.mean_activations(extractor(forward(images)), indices,
                                                           0 if robust else filters.FEATURE_BORDER))
        return tape.gradient(total, source)
    return gradient


def time_speedup(vm, count: int, steps: int, size: int, repeats: int) -> dict:
    """Batched visualize against the reference loop, run in turn: median wall and CPU seconds of
    each, and the medians of the per-pair ratios (each pair saw about the same load)."""
    from vizcore import filters
    reference = reference_loop(vm, LAYER, size)
    reference([0], 1)
    for _ in filters.visualize(vm, LAYER, range(count), steps=1, size=size, seed=0):  # same shapes as timed
        pass

    def batched():
        for _ in filters.visualize(vm, LAYER, range(count), steps=steps, size=size, seed=0):
            pass
    times = {"batched": [], "reference": []}
    for _ in range(repeats):
        for name, run in (("batched", batched), ("reference", lambda: reference(range(count), steps))):
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
        (bw, bc), (rw, rc) = times["batched"][-1], times["reference"][-1]
        print(f"  batched {bw:.1f} s (CPU {bc:.1f} s), one at a time {rw:.1f} s (CPU {rc:.1f} s)", flush=True)
    pairs = list(zip(times["batched"], times["reference"]))
    return {"batched": statistics.median(w for w, _ in times["batched"]),
            "reference": statistics.median(w for w, _ in times["reference"]),
            "ratio_of_medians": statistics.median(w for w, _ in times["reference"]) /
            statistics.median(w for w, _ in times["batched"]),
            "speedup": statistics.median(r[0] / b[0] for b, r in pairs),
            "cpu_speedup": statistics.median(r[1] / b[1] for b, r in pairs)}


def time_overhead(vm, mode: str, count: int, size: int, steps: int, skip: int, bare_steps) -> tuple[float, list]:
    """(median seconds from one streamed frame to the next, [median seconds of each bare step on the
    same chunks]), taken in turn so that all see the same load on the machine."""
    from vizcore import filters
    for bare in bare_steps:
        bare()
    # a first run meets every image size the random scales make (same seed, same sizes): a long run's
    # steady state, where oneDNN has its kernels for each size
    for _ in filters.visualize(vm, LAYER, range(count), mode=mode, size=size, steps=2 if mode == "classic" else steps,
                               seed=0):
        pass
    frames = filters.visualize(vm, LAYER, range(count), mode=mode, size=size, steps=steps, seed=0)
    for _ in range(skip):  # past the first steps (and robust mode's redirected ones)
        next(frames)
    streamed, bares = [], [[] for _ in bare_steps]
    for _ in range(steps - skip - 1):  # the last frame also measures the finished images: left out
        start = time.perf_counter()
        next(frames)
        streamed.append(time.perf_counter() - start)
        for times, bare in zip(bares, bare_steps):
            start = time.perf_counter()
            bare()
            times.append(time.perf_counter() - start)
    frames.close()
    return statistics.median(streamed), [statistics.median(times) for times in bares]


def bare_runner(vm, mode: str, count: int, size: int, parameterised: bool = False):
    """A callable: one bare step over the chunks a run of ``count`` filters uses."""
    import numpy as np
    import tensorflow as tf

    from vizcore import param, step_rules
    method = step_rules.classic(size) if mode == "classic" else step_rules.robust(vm)
    chunks = np.array_split(np.arange(count), -(-count // method.chunk_size(size)))
    gradient = bare_step(vm, LAYER, mode == "robust", parameterised)
    side = size if mode == "classic" else size + 12  # robust: the mean size after pad, jitter, scale, jitter
    sources = [param.initial_spectrum(size, tf.constant([[0, int(i)] for i in c])) if parameterised
               else tf.random.uniform([len(c), side, side, 3]) for c in chunks]
    batches = [(source, tf.constant(c, tf.int32)) for source, c in zip(sources, chunks)]

    def run():
        for source, indices in batches:
            gradient(source, indices).numpy()
    return run


def classic_step(vm, size: int, batch: int):
    """(the compiled classic step of LAYER's first ``batch`` filters, their starting images, its run-time inputs)."""
    import numpy as np

    from vizcore import ascent, objectives, step_rules
    objective = objectives.channel(LAYER, list(range(batch)), border=2).checked(vm)
    climber = ascent.engine(vm, step_rules.classic(size), objective)
    images = climber.method.parameterisation.start(size, np.array([(0, i) for i in range(batch)]))
    return climber.step(), images, objective.arguments()


def time_batch_sizes(vm, size: int, sizes: list[int]) -> dict[int, float]:
    """ms per image-step of the classic step at each batch size (the sweep behind CHUNK_PIXELS)."""
    import tensorflow as tf
    result = {}
    for batch in sizes:
        step, images, arguments = classic_step(vm, size, batch)
        step(images, (), 1.0, 10.0, tf.zeros([2], tf.int32), arguments)
        repeats = max(3, 48 // batch)
        start = time.perf_counter()
        for _ in range(repeats):
            images, _, activations, *_ = step(images, (), 1.0, 10.0, tf.zeros([2], tf.int32), arguments)
        activations.numpy()
        result[batch] = (time.perf_counter() - start) / repeats / batch * 1000
        print(f"  batch {batch:>3}: {result[batch]:.1f} ms per image-step", flush=True)
    return result


def time_robust_batch_sizes(vm, size: int, sizes: list[int], steps: int = 12) -> dict[int, float]:
    """ms per image-step of the robust step at each batch size: the same ``steps`` transform seeds
    (so the same image sizes) taken once to warm up, then timed."""
    import tensorflow as tf

    from vizcore import ascent, objectives, step_rules, transforms
    result = {}
    for batch in sizes:
        objective = objectives.channel(LAYER, list(range(batch)), border=0).checked(vm)
        climber = ascent.engine(vm, step_rules.robust(vm), objective)
        step, arguments = climber.step(), objective.arguments()
        images = climber.method.parameterisation.start(size, np.array([(0, i) for i in range(batch)]))
        slots = (tf.zeros_like(images), tf.zeros_like(images))
        seeds = [transforms.step_seed(0, -k) for k in range(1, steps + 1)]
        for _ in range(2):  # a warm-up pass, then the timed one
            start = time.perf_counter()
            for k, seed in enumerate(seeds, 1):
                images, slots, activations, *_ = step(images, slots, float(k), 0.1, seed, arguments)
            activations.numpy()
        result[batch] = (time.perf_counter() - start) / steps / batch * 1000
        print(f"  robust batch {batch:>3}: {result[batch]:.1f} ms per image-step", flush=True)
    return result


def time_xla(vm, size: int, batch: int) -> tuple[float, float, float]:
    """(plain ms per image-step, XLA ms per image-step, XLA compile seconds) of the classic step."""
    import tensorflow as tf
    step, images, arguments = classic_step(vm, size, batch)
    xla = tf.function(step.python_function, input_signature=step.input_signature, jit_compile=True)
    lr, seed = tf.constant(10.0), tf.zeros([2], tf.int32)
    start = time.perf_counter()
    xla(images, (), 1.0, lr, seed, arguments)[2].numpy()
    compile_seconds = time.perf_counter() - start
    per_step = {}
    for name, function in (("plain", step), ("xla", xla)):
        function(images, (), 1.0, lr, seed, arguments)[2].numpy()
        start = time.perf_counter()
        for _ in range(2):
            function(images, (), 1.0, lr, seed, arguments)[2].numpy()
        per_step[name] = (time.perf_counter() - start) / 2 / batch * 1000
    return per_step["plain"], per_step["xla"], compile_seconds


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    count, steps, size = (16, 10, 180) if quick else (64, 30, 180)
    import vizcore
    from vizcore import step_rules
    vm = vizcore.load_model(MODEL)
    rows = []

    print(f"{count} filters × {steps} steps × {size} px, classic, {LAYER}: batched vs one at a time", flush=True)
    load = os.getloadavg()[0]
    timed = time_speedup(vm, count, steps, size, 3 if quick else 5)
    batched, reference, speedup = timed["batched"], timed["reference"], timed["speedup"]
    rows += [row("machine load average (1 min) at the start: other processes share the 2 cores", load, "", "", True),
             row(f"batched {count} filters × {steps} steps, {size} px (classic, {LAYER})", batched, "s", "", True),
             row("one filter at a time (Keras example loop, compiled once)", reference, "s", "", True),
             row("speed-up of batching, wall time (median of the pairs' ratios)", speedup, "×", f"≥ {SPEEDUP_GOAL}",
                 speedup >= SPEEDUP_GOAL),
             row("speed-up of batching, wall time (ratio of the medians)", timed["ratio_of_medians"], "×", "", True),
             row("speed-up of batching, CPU time of the process (less sensitive to the load)", timed["cpu_speedup"],
                 "×", "", True),
             row("batched: ms per image-step", batched / count / steps * 1000, "ms", "", True),
             row("one at a time: ms per image-step", reference / count / steps * 1000, "ms", "", True)]

    print("per-step overhead over a bare forward/backward", flush=True)
    classic_count, robust_count = count, 16 if quick else 32
    streamed, (bare,) = time_overhead(vm, "classic", classic_count, size, 10 if quick else 20, 1,
                                      [bare_runner(vm, "classic", classic_count, size)])
    print(f"  classic: streamed step {streamed * 1000:.0f} ms, bare {bare * 1000:.0f} ms", flush=True)
    rows.append(row(f"classic: step overhead over bare fwd/bwd ({classic_count} filters, {size} px)",
                    (streamed / bare - 1) * 100, "%", f"≤ {OVERHEAD_GOAL:.0%}", streamed / bare - 1 <= OVERHEAD_GOAL))
    streamed, (bare, bare_fourier) = time_overhead(
        vm, "robust", robust_count, 128, 26 if quick else 34, 18,
        [bare_runner(vm, "robust", robust_count, 128), bare_runner(vm, "robust", robust_count, 128, True)])
    print(f"  robust: streamed step {streamed * 1000:.0f} ms, bare {bare * 1000:.0f} ms, "
          f"bare from the spectrum {bare_fourier * 1000:.0f} ms", flush=True)
    rows += [row(f"robust: step overhead over bare model fwd/bwd ({robust_count} filters, 128 px)",
                 (streamed / bare - 1) * 100, "%", f"≤ {OVERHEAD_GOAL:.0%}", streamed / bare - 1 <= OVERHEAD_GOAL),
             row("robust: the same over bare fwd/bwd through the Fourier parameterisation (transforms, Adam, frames)",
                 (streamed / bare_fourier - 1) * 100, "%", f"≤ {OVERHEAD_GOAL:.0%}",
                 streamed / bare_fourier - 1 <= OVERHEAD_GOAL)]

    print("robust default against the former one (256 steps, lr 0.05)", flush=True)
    compared, pictures = compare_robust_defaults(vm, 16 if quick else 64, 4 if quick else 16)
    rows += compared
    save_side_by_side(pictures, RESULTS_DIR / "robust_former_vs_default.jpg")
    print(f"  the first 8 filters of {', '.join(QUALITY_LAYERS)}, former default above today's: "
          f"{RESULTS_DIR / 'robust_former_vs_default.jpg'}", flush=True)

    print("first frame and memory (fresh processes)", flush=True)
    for mode, mode_size in (("classic", 180), ("robust", 128)):
        probe = child(mode, 64, mode_size, 2)
        goal = f"≤ {FIRST_FRAME_GOAL:g}"
        rows += [row(f"{mode}: first frame, 64 filters, first run of the process", probe["cold"], "s", goal,
                     probe["cold"] <= FIRST_FRAME_GOAL),
                 row(f"{mode}: first frame, 64 filters, a new layer (traces its step)", probe["new_layer"], "s", goal,
                     probe["new_layer"] <= FIRST_FRAME_GOAL),
                 row(f"{mode}: first frame, 64 filters, layer prepared (page warms it up)", probe["prepared"], "s",
                     goal, probe["prepared"] <= FIRST_FRAME_GOAL),
                 row(f"{mode}: first frame, 64 filters, second run on the layer", probe["warm"], "s", goal,
                     probe["warm"] <= FIRST_FRAME_GOAL),
                 row(f"{mode}: prepare (trace + instantiate, in the page's background)", probe["prepare"], "s", "", True)]
        if mode == "classic":
            rows += [row("peak memory, 64 filters at 180 px: the process", probe["process_peak_mb"], "MB",
                         f"< {MEMORY_GOAL_MB}", probe["process_peak_mb"] < MEMORY_GOAL_MB),
                     row("peak memory, 64 filters at 180 px: the run's own, above the loaded model",
                         probe["own_peak_mb"], "MB", "", True)]
    if not quick:
        single = child("classic", 64, 180, 2, chunk=64)
        rows.append(row("peak memory, 64 filters at 180 px in one batch (no chunks): the run's own",
                        single["own_peak_mb"], "MB", "", True))

    print("batch-size sweep", flush=True)
    sweep = time_batch_sizes(vm, size, [1, 4, 16] if quick else [1, 4, 8, 16, 32, 64])
    rows += [row(f"classic step, batch {batch}, {size} px: per image-step", ms, "ms", "", True)
             for batch, ms in sweep.items()]

    chosen = step_rules.robust(vm).chunk_size(128)
    robust_sizes = sorted({4, 8, chosen, 16, 32} if quick else {4, 8, chosen, 16, 24, 32, 64})
    robust_sweep = time_robust_batch_sizes(vm, 128, robust_sizes)
    fastest = min(robust_sweep, key=robust_sweep.get)
    rows += [row(f"robust step, batch {batch}, 128 px: per image-step" + (" (the chunk a run uses)" if batch == chosen
                                                                         else ""), ms, "ms", "", True)
             for batch, ms in robust_sweep.items()]
    rows.append(row("robust: the chunk a run uses against the fastest batch measured, per image-step",
                    robust_sweep[chosen] / robust_sweep[fastest], "×", "", True))

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
