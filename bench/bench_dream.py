"""Dream: time per step against a bare gradient step, and peak memory of tiled dreams.

Time: ``vizcore.dream.dream`` run to the end with every frame taken (streaming: each step's
frame is upscaled, the lost detail added, deprocessed to uint8 and handed over) against the
Keras example's bare ``gradient_ascent_step`` (loss, gradient, normalise, update; nothing else) on
the same octave sizes and step counts. Both in one process, alternating step by step after a
warm-up (the machine is shared, so whole-run alternation is too coarse), median of the repeats.
Memory: each dream runs in a fresh subprocess; after loading the model and
tracing on a small image, VmHWM is reset, so the figure is the dream's own peak above the
process (ru_maxrss, the whole process's peak, is reported too).
Usage: python bench/bench_dream.py [--quick] [--mixes]   (--mixes renders the default-mix trial)
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import RESULTS, row, write_rows

ROOT = Path(__file__).resolve().parent.parent
MODEL = "efficientnet_lite0"
STEP_GOAL = 1.1          # dream step / bare step
TILE = 512               # tile side for the memory runs
PROCESS_GOAL_MB = 1536   # peak RSS of a whole process that loads Lite0 and dreams 1024×768 tiled
BIG_SHARE_GOAL = 0.5     # tiled dream's own peak at 2048×1536 / the untiled one's
MIX_CANDIDATES = [       # the Lite0 trial behind vizcore.dream.DEFAULT_LAYERS
    {"block3b_add": 1.0}, {"block4c_add": 1.0}, {"block5c_add": 1.0}, {"block6d_add": 1.0},
    {"block4c_add": 1.0, "block5c_add": 1.5}, {"block4c_add": 1.0, "block5c_add": 1.5, "block6d_add": 2.0},
]
MEMORY_PROBE = r"""
import json, resource, sys, time
import numpy as np
from PIL import Image
import vizcore
from vizcore import dream

def high_water_mb():  # peak RSS since the last reset (VmHWM; ru_maxrss cannot be reset)
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024

def rss_mb():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]) / 1024

width, height, tile, octaves, steps = (int(a) if a != "none" else None for a in sys.argv[1:6])
vm = vizcore.load_model("efficientnet_lite0")
mix = dream.default_layers(vm)
photo = np.asarray(Image.fromarray(vizcore.load_image("assets/samples/rocket.jpg")).resize((width, height)))
for _ in dream.dream(vm, photo[:256, :256], mix, steps=1, octaves=1, tile=tile and 128):  # trace first
    pass
with open("/proc/self/clear_refs", "w") as clear_refs:
    clear_refs.write("5")  # reset VmHWM to the current RSS
before = rss_mb()
start = time.perf_counter()
for frame in dream.dream(vm, photo, mix, steps=steps, octaves=octaves, tile=tile, seed=0):
    pass
print(json.dumps({"seconds": time.perf_counter() - start, "rss_before_mb": before,
                  "own_peak_mb": high_water_mb() - before,
                  "process_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "shape": list(frame.image.shape)}))
"""


def bare_step(vm, mix: dict):
    """The Keras example's ``gradient_ascent_step``: loss, gradient, normalise, update; nothing else."""
    import tensorflow as tf
    extractor, weights = vm.extractor(list(mix)), list(mix.values())

    @tf.function  # traced once per octave shape, as in the example
    def gradient_ascent_step(image, learning_rate):
        with tf.GradientTape() as tape:
            tape.watch(image)
            activations = extractor(image, training=False)
            loss = sum(w * tf.reduce_mean(tf.square(a[:, 2:-2, 2:-2, :])) for w, a in zip(weights, activations))
        gradients = tape.gradient(loss, image)
        gradients /= tf.maximum(tf.reduce_mean(tf.abs(gradients)), 1e-6)
        return loss, image + learning_rate * gradients
    return gradient_ascent_step


def paired_seconds(vm, mix: dict, photo, octaves: int, steps: int, step) -> tuple[float, float]:
    """(dream, bare) seconds of one dream, step by step side by side so both see the same machine load.

    Each of the dream's steps (its frame upscaled, detail added, deprocessed and handed over) is
    followed by one bare step on an image of the same octave size; the dream's setup (validation,
    preprocessing, octave resizes) counts on its side.
    """
    import tensorflow as tf
    from vizcore import dream
    start = time.perf_counter()
    frames = iter(dream.dream(vm, photo, mix, steps=steps, octaves=octaves, seed=0))
    dream_seconds, bare_seconds = time.perf_counter() - start, 0.0
    original = tf.constant(vm.preprocess(photo))
    for shape in dream.octave_shapes(photo.shape[:2], octaves, dream.OCTAVE_SCALE):
        start = time.perf_counter()
        image = tf.image.resize(original, shape)
        bare_seconds += time.perf_counter() - start
        for _ in range(steps):
            start = time.perf_counter()
            next(frames)
            dream_seconds += time.perf_counter() - start
            start = time.perf_counter()
            loss, image = step(image, dream.LR)
            float(loss)
            bare_seconds += time.perf_counter() - start
    return dream_seconds, bare_seconds


def step_rows(vm, quick: bool) -> list[dict]:
    import numpy as np
    from PIL import Image

    import vizcore
    from vizcore import dream
    mix = dream.default_layers(vm)
    step = bare_step(vm, mix)
    grace = vizcore.load_image(ROOT / "assets/samples/grace_hopper.jpg")
    rocket = vizcore.load_image(ROOT / "assets/samples/rocket.jpg")
    square = np.asarray(Image.fromarray(grace).resize((224, 224), Image.Resampling.LANCZOS))
    large = np.asarray(Image.fromarray(rocket).resize((1024, 768), Image.Resampling.LANCZOS))
    steps, repeats = (5, 3) if quick else (20, 5)
    cases = [("512×600 photo, 3 octaves", grace, 3, steps), ("224×224 photo, 1 octave", square, 1, steps),
             ("1024×768 photo, 1 octave", large, 1, 3 if quick else 5)]
    rows = []
    for title, photo, octaves, case_steps in cases:
        paired_seconds(vm, mix, photo, octaves, 2, step)  # warm-up: trace every octave size
        runs = [paired_seconds(vm, mix, photo, octaves, case_steps, step) for _ in range(repeats)]
        ratio = statistics.median(dream_seconds / bare_seconds for dream_seconds, bare_seconds in runs)
        count = octaves * case_steps
        print(f"{title}: bare {statistics.median(b for _, b in runs) / count * 1000:.1f} ms/step, "
              f"dream {statistics.median(d for d, _ in runs) / count * 1000:.1f} ms/step, ratio {ratio:.3f}")
        rows.append(row(f"dream step / bare gradient step, {title}", ratio, "×", f"≤ {STEP_GOAL}",
                        ratio <= STEP_GOAL))
    return rows


def measure_memory(width: int, height: int, tile: int | None, octaves: int, steps: int) -> dict:
    arguments = [str(width), str(height), str(tile) if tile else "none", str(octaves), str(steps)]
    result = subprocess.run([sys.executable, "-c", MEMORY_PROBE, *arguments], cwd=ROOT, capture_output=True,
                            text=True, timeout=1800)
    if result.returncode:
        raise RuntimeError(result.stderr.strip().splitlines()[-1])
    return json.loads(result.stdout.strip().splitlines()[-1])


def memory_rows(quick: bool) -> list[dict]:
    octaves, steps = (1, 2) if quick else (2, 3)
    runs = {(w, h, tile): measure_memory(w, h, tile, octaves, steps)
            for w, h, tile in [(1024, 768, TILE), (1024, 768, None), (2048, 1536, TILE), (2048, 1536, None)]}
    for (w, h, tile), run in runs.items():
        print(f"{w}×{h} {'tiled ' + str(tile) if tile else 'untiled'}: own peak {run['own_peak_mb']:.0f} MB, "
              f"process peak {run['process_peak_mb']:.0f} MB, {run['seconds']:.1f} s")
    tiled, untiled = runs[(1024, 768, TILE)], runs[(1024, 768, None)]
    big_tiled, big_untiled = runs[(2048, 1536, TILE)], runs[(2048, 1536, None)]
    growth = big_tiled["own_peak_mb"] / tiled["own_peak_mb"]
    untiled_growth = big_untiled["own_peak_mb"] / untiled["own_peak_mb"]
    print(f"own peak for 4× the pixels: tiled ×{growth:.2f}, untiled ×{untiled_growth:.2f} "
          "(the tiled growth is a few float copies of the photo: image, gradient, original, frame)")
    return [
        row(f"peak RSS of the process (load Lite0, dream 1024×768 tiled {TILE})", tiled["process_peak_mb"], "MB",
            f"≤ {PROCESS_GOAL_MB} (loading the model sets most of it)", tiled["process_peak_mb"] <= PROCESS_GOAL_MB),
        row(f"dream's own peak memory, 1024×768 tiled {TILE}", tiled["own_peak_mb"], "MB",
            f"below the untiled dream's ({untiled['own_peak_mb']:.0f} MB)",
            tiled["own_peak_mb"] < untiled["own_peak_mb"]),
        row(f"dream's own peak memory, 2048×1536 tiled {TILE}", big_tiled["own_peak_mb"], "MB",
            f"≤ the untiled 1024×768 dream's ({untiled['own_peak_mb']:.0f} MB) and "
            f"≤ {BIG_SHARE_GOAL} × the untiled 2048×1536 one's ({big_untiled['own_peak_mb']:.0f} MB)",
            big_tiled["own_peak_mb"] <= min(untiled["own_peak_mb"], BIG_SHARE_GOAL * big_untiled["own_peak_mb"])),
    ]


def render_mixes() -> Path:
    """The default-mix trial: each candidate dreamed on the cat, labelled, side by side."""
    import numpy as np
    from PIL import Image, ImageDraw

    import vizcore
    from vizcore import dream
    vm = vizcore.load_model(MODEL)
    cat = vizcore.load_image(ROOT / "assets/samples/cat.jpg")
    tiles = []
    for mix in MIX_CANDIDATES:
        frame = list(dream.dream(vm, cat, mix, seed=0, every=10_000))[-1]
        tile = Image.fromarray(frame.image)
        ImageDraw.Draw(tile).text((4, 4), " ".join(f"{k}:{v:g}" for k, v in mix.items()), fill=(255, 255, 0))
        tiles.append(np.asarray(tile))
    rows = [np.concatenate(tiles[i:i + 3], 1) for i in range(0, len(tiles), 3)]
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "dream_mixes.png"
    Image.fromarray(np.concatenate(rows, 0)).save(path)
    return path


def main() -> None:
    quick = "--quick" in sys.argv
    if "--mixes" in sys.argv:
        print(f"wrote {render_mixes()}")
        return
    import vizcore
    vm = vizcore.load_model(MODEL)
    rows = step_rows(vm, quick) + memory_rows(quick)
    write_rows("dream", rows)


if __name__ == "__main__":
    main()
