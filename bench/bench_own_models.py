"""Users' own models: a nested transfer-learning model against the same model flattened by hand,
and the load time and peak memory of a big (about 95 MB) model file.

Nested vs flat: the Keras transfer-learning recipe, ``Sequential([Input(160, 160, 3), MobileNetV2
(weights=None), GlobalAveragePooling2D, Dropout, Dense(1, sigmoid)])``, and a Functional model
built on the base's own graph with the very same layer objects (``Model(base.input,
dense(dropout(pool(base.output))))``), so both compute the same thing with the same weights; the
only difference is that vizcore reaches the nested base's layers through ``vizcore.graph`` views.
Grad-CAM end to end (a photo to a heatmap) and one classic filter step (8 filters, 160 px) are
timed in turn, nested then flat then flat then nested, after a warm-up; medians of the repeats
and the median of the per-pair ratios (each pair saw about the same load). Other processes share
this machine's cores, so the load average is reported too.

Big file: ResNet50V2 (include_top=False, weights=None) + a Dense head, Functional, saved as
``.keras`` (about 95 MB). A fresh subprocess loads it with ``vizcore.load_model`` and makes one
heatmap; its wall time and peak RSS (VmHWM, reset after imports) are reported.
Usage: python bench/bench_own_models.py [--quick]
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import row, write_rows

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "assets" / "samples" / "cat.jpg"
SIZE = 160                 # the recipe's input side
CAM_LAYER = "out_relu"     # the default heatmap layer: the base's last spatial layer
FILTER_LAYER = "block_6_expand"  # a middle convolution of the base
FILTERS = 8                # images in one classic filter step
RATIO_GOAL = 1.05          # nested / flat
BIG_MODEL_SIDE = 224

BIG_MODEL_PROBE = r"""
import json, sys, time
import numpy as np
import vizcore
from vizcore import cam

def status_mb(field):  # VmRSS now, or VmHWM: the peak since the last reset
    return int(next(l for l in open("/proc/self/status") if l.startswith(field)).split()[1]) / 1024

photo = vizcore.load_image(sys.argv[2])
with open("/proc/self/clear_refs", "w") as clear_refs:
    clear_refs.write("5")  # VmHWM := VmRSS: what follows is the load's own peak
before = status_mb("VmRSS")
start = time.perf_counter()
vm = vizcore.load_model(sys.argv[1])
load = time.perf_counter() - start
after_load_peak = status_mb("VmHWM")
start = time.perf_counter()
result = cam.heatmap(vm, photo)
first_heatmap = time.perf_counter() - start
print(json.dumps({"load_s": load, "rss_before_mb": before, "load_peak_mb": after_load_peak,
                  "first_heatmap_s": first_heatmap, "peak_mb": status_mb("VmHWM"), "rss_after_mb": status_mb("VmRSS"),
                  "layers": len(vm.conv_layers()), "heatmap_layer": result.layer, "scaling": vm.scaling}))
"""


def nested_and_flat():
    """(nested VizModel, flat VizModel): the recipe and the same layers on the base's own graph."""
    import keras
    from vizcore.models import VizModel
    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2(input_shape=(SIZE, SIZE, 3), include_top=False, weights=None)
    pool, dropout = keras.layers.GlobalAveragePooling2D(), keras.layers.Dropout(0.2)
    dense = keras.layers.Dense(1, activation="sigmoid")
    nested = keras.Sequential([keras.Input((SIZE, SIZE, 3)), base, pool, dropout, dense], name="recipe")
    flat = keras.Model(base.input, dense(dropout(pool(base.output))), name="recipe_flat")
    labels = ("negative", "positive")
    return (VizModel("recipe", nested, (SIZE, SIZE), labels, "tf"),
            VizModel("recipe_flat", flat, (SIZE, SIZE), labels, "tf"), base.name)


def interleaved(functions: dict, repeats: int) -> dict[str, list[float]]:
    """Seconds of each function per repeat, called in turn (order reversed every other repeat) after a warm-up."""
    for fn in functions.values():
        fn()
        fn()
    times = {name: [] for name in functions}
    names = list(functions)
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else reversed(names):
            start = time.perf_counter()
            functions[name]()
            times[name].append(time.perf_counter() - start)
    return times


def ratios(times: dict[str, list[float]]) -> tuple[float, float]:
    """(median nested / median flat, median of the per-repeat ratios)."""
    nested, flat = times["nested"], times["flat"]
    return (statistics.median(nested) / statistics.median(flat),
            statistics.median(n / f for n, f in zip(nested, flat)))


def cam_runs(nested, flat, prefix: str, photo):
    from vizcore import cam
    return {"nested": lambda: cam.heatmap(nested, photo, class_index=1, layer=f"{prefix}/{CAM_LAYER}"),
            "flat": lambda: cam.heatmap(flat, photo, class_index=1, layer=CAM_LAYER)}


def filter_steps(nested, flat, prefix: str):
    """One classic step of FILTERS images on the same layer, through each model."""
    import numpy as np
    import tensorflow as tf
    from vizcore import ascent, objectives, step_rules
    runs = {}
    seeds = np.array([(0, i) for i in range(FILTERS)])
    for name, vm, layer in (("nested", nested, f"{prefix}/{FILTER_LAYER}"), ("flat", flat, FILTER_LAYER)):
        objective = objectives.channel(layer, list(range(FILTERS)), border=2).checked(vm)
        climber = ascent.engine(vm, step_rules.classic(SIZE), objective)
        images, step, arguments = climber.method.parameterisation.start(SIZE, seeds), climber.step(), objective.arguments()
        runs[name] = (lambda step=step, images=images, arguments=arguments:
                      step(images, (), 1.0, 10.0, tf.zeros([2], tf.int32), arguments)[2].numpy())
    return runs


def check_same(nested, flat, prefix: str, photo) -> float:
    """Largest difference between the two models' heatmaps (they must agree, or the timing means nothing)."""
    import numpy as np
    from vizcore import cam
    ours = cam.heatmap(nested, photo, class_index=1, layer=f"{prefix}/{CAM_LAYER}").heatmap
    theirs = cam.heatmap(flat, photo, class_index=1, layer=CAM_LAYER).heatmap
    return float(np.max(np.abs(ours - theirs)))


def big_model_file(folder: Path) -> Path:
    """ResNet50V2 base (weights=None) + pool + Dense(5, softmax), Functional, saved as .keras."""
    import keras
    keras.utils.set_random_seed(0)
    inputs = keras.Input((BIG_MODEL_SIDE, BIG_MODEL_SIDE, 3))
    x = keras.applications.ResNet50V2(input_shape=(BIG_MODEL_SIDE, BIG_MODEL_SIDE, 3), include_top=False,
                                      weights=None)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(x), name="flowers")
    path = folder / "flowers.keras"
    model.save(path)
    return path


def probe_big_model(path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", BIG_MODEL_PROBE, str(path), str(PHOTO)], cwd=ROOT, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    import numpy as np
    import vizcore
    from PIL import Image

    photo = np.asarray(Image.fromarray(vizcore.load_image(PHOTO)).resize((SIZE, SIZE), Image.Resampling.BICUBIC))
    nested, flat, prefix = nested_and_flat()
    difference = check_same(nested, flat, prefix, photo)
    load = os.getloadavg()[0]
    print(f"Grad-CAM on {CAM_LAYER}, {SIZE} px: nested vs flat, interleaved", flush=True)
    cam_times = interleaved(cam_runs(nested, flat, prefix, photo), 10 if quick else 40)
    print(f"classic filter step, {FILTERS} filters on {FILTER_LAYER}, {SIZE} px: nested vs flat", flush=True)
    step_times = interleaved(filter_steps(nested, flat, prefix), 6 if quick else 20)
    load_after = os.getloadavg()[0]
    cam_ratio, cam_pair_ratio = ratios(cam_times)
    step_ratio, step_pair_ratio = ratios(step_times)

    print("a ~95 MB model file: load time and peak memory in a fresh process", flush=True)
    with tempfile.TemporaryDirectory(prefix="vizcore-bench-") as folder:
        path = big_model_file(Path(folder))
        file_mb = path.stat().st_size / 1e6
        big = probe_big_model(path)
    print(json.dumps({"cam": {k: statistics.median(v) for k, v in cam_times.items()},
                      "step": {k: statistics.median(v) for k, v in step_times.items()}, "big": big}, indent=1))

    rows = [
        row("machine load average (1 min) before the timings: other processes share the cores", load, "", "", True),
        row("machine load average (1 min) after the timings", load_after, "", "", True),
        row("nested vs flat heatmaps: largest difference", difference, "", "≤ 1e-5", difference <= 1e-5),
        row(f"Grad-CAM end to end, {SIZE} px, nested MobileNetV2 (ms)", 1000 * statistics.median(cam_times["nested"]), "ms", "", True),
        row(f"Grad-CAM end to end, {SIZE} px, flattened by hand (ms)", 1000 * statistics.median(cam_times["flat"]), "ms", "", True),
        row("Grad-CAM time nested / flat (ratio of the medians)", cam_ratio, "×", f"≤ {RATIO_GOAL}", cam_ratio <= RATIO_GOAL),
        row("Grad-CAM time nested / flat (median of the pairs' ratios)", cam_pair_ratio, "×", "", True),
        row(f"filter step, {FILTERS} filters, {SIZE} px, nested (ms)", 1000 * statistics.median(step_times["nested"]), "ms", "", True),
        row(f"filter step, {FILTERS} filters, {SIZE} px, flattened by hand (ms)", 1000 * statistics.median(step_times["flat"]), "ms", "", True),
        row("filter step time nested / flat (ratio of the medians)", step_ratio, "×", f"≤ {RATIO_GOAL}", step_ratio <= RATIO_GOAL),
        row("filter step time nested / flat (median of the pairs' ratios)", step_pair_ratio, "×", "", True),
        row("big model: ResNet50V2 + Dense head, .keras file size (10⁶ bytes)", file_mb, "MB", "≈ 95", True),
    ]
    if "error" in big:
        print(f"big model did not load: {big['error']}", flush=True)
        rows.append(row(f"big model loads ({big['error'][:60]})", 0, "", "loads", False))
    else:
        rows += [
            row("big model: vizcore.load_model time, fresh process", big["load_s"], "s", "loads", True),
            row("big model: peak RSS of the process while loading", big["load_peak_mb"], "MB", "", True),
            row("big model: RSS growth by loading (peak − before)", big["load_peak_mb"] - big["rss_before_mb"], "MB", "", True),
            row("big model: first heatmap after loading (traces the view)", big["first_heatmap_s"], "s", "", True),
            row("big model: peak RSS of the process after the first heatmap", big["peak_mb"], "MB", "", True),
        ]
    write_rows("own_models", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
