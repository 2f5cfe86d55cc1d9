"""Heatmaps: Grad-CAM end to end vs one bare forward+backward pass and vs tf-keras-vis; Score-CAM.

All timings in one process, interleaved (A, B, C, A, B, C, ...) after a warm-up, median of the
repeats, so the ratios hold on a busy machine. Full Score-CAM's time and peak memory are measured
in a fresh subprocess each, beside Grad-CAM's: the peak RSS (VmHWM, reset after loading and
warm-up) while the one call runs, so the figure is the call's own.
Usage: python bench/bench_cam.py [--quick]
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from common import row, write_rows

LAYER = "top_relu"       # Lite0's last conv layer (feeds avg_pool, then the dense classifier)
PHOTO = "assets/samples/grace_hopper.jpg"
TOP_K = 64               # Faster Score-CAM channels
MEMORY_PROBE = r"""
import json, sys, time
import numpy as np
import vizcore
from vizcore import cam

def high_water_mb():  # peak RSS since the last reset (VmHWM; ru_maxrss cannot be reset)
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
    return int(line.split()[1]) / 1024

method, top_k = sys.argv[1], (int(sys.argv[2]) or None)
vm = vizcore.load_model("efficientnet_lite0")
photo = np.asarray(vizcore.load_image("assets/samples/grace_hopper.jpg"))
cam.heatmap(vm, photo, method="gradcam")  # build the view and trace the core first
with open("/proc/self/clear_refs", "w") as clear_refs:
    clear_refs.write("5")  # reset VmHWM to the current RSS
before = high_water_mb()
start = time.perf_counter()
result = cam.heatmap(vm, photo, method=method, top_k=top_k)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rss_before_mb": before, "peak_rss_mb": high_water_mb(),
                  "batch": cam.compiled_view(vm, result.layer).batch_size(), "label": result.label}))
"""


def interleaved_medians(functions: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each function, called in turn ``repeats`` times after one warm-up round."""
    for fn in functions.values():
        fn()
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def bare_pass(vm, inputs, class_index):
    """One compiled forward (whole model) + backward (class score → LAYER) pass, nothing else."""
    import keras
    import tensorflow as tf
    model = keras.Model(vm.keras.inputs[0], [vm.keras.get_layer(LAYER).output, vm.keras.outputs[0]])

    @tf.function
    def forward_backward(x):
        with tf.GradientTape() as tape:
            acts, outputs = model(x, training=False)
            score = outputs[:, class_index]
        return tape.gradient(score, acts)
    return lambda: forward_backward(inputs).numpy()


def tf_keras_vis_gradcam(vm, inputs, class_index):
    """tf-keras-vis 0.8.7's Gradcam as its docs advise (linear output on a clone of the model)."""
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore
    gradcam = Gradcam(vm.keras, model_modifier=ReplaceToLinear(), clone=True)
    return lambda: gradcam(CategoricalScore([class_index]), inputs, penultimate_layer=LAYER)


def cam_correlation(vm, photo, class_index, grid) -> float:
    """Correlation of a map with CAM from the dense weights, ReLU(Σ_k A_k · w_k,c), on the layer's grid."""
    import numpy as np
    acts = np.asarray(vm.extractor([LAYER])(vm.preprocess(vm.resize_for_input(photo))))[0]
    reference = np.maximum(acts @ vm.keras.get_layer("predictions").kernel.numpy()[:, class_index], 0)
    return float(np.corrcoef(reference.ravel(), np.asarray(grid).ravel())[0, 1])


def subprocess_run(method: str, top_k: int) -> dict:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, method, str(top_k)], cwd=root,
                         capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": root})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    import numpy as np
    import vizcore
    from PIL import Image
    from vizcore import cam

    vm = vizcore.load_model("efficientnet_lite0")
    photo = np.asarray(Image.fromarray(vizcore.load_image(PHOTO)).resize((224, 224), Image.Resampling.BICUBIC))
    class_index = vm.predict(photo, top=1)[0].index
    inputs = vm.preprocess(photo)
    ours = cam.heatmap(vm, photo, class_index=class_index, layer=LAYER)
    keras_vis = tf_keras_vis_gradcam(vm, inputs, class_index)
    medians = interleaved_medians({
        "bare": bare_pass(vm, inputs, class_index),
        "vizcore": lambda: cam.heatmap(vm, photo, class_index=class_index, layer=LAYER),
        "tf-keras-vis": keras_vis,
    }, repeats=5 if quick else 15)
    theirs_grid = _tf_keras_vis_grid(vm, inputs, class_index)
    assert vm.keras.get_layer("predictions").activation.__name__ == "softmax", "the shared model was mutated"

    top_k_seconds = interleaved_medians(
        {"topk": lambda: cam.heatmap(vm, photo, class_index=class_index, method="scorecam", top_k=TOP_K)},
        repeats=2 if quick else 5)["topk"]
    gradcam_run = subprocess_run("gradcam", 0)
    full_run = subprocess_run("scorecam", 0)
    figures = {"medians": medians, "top_k_seconds": top_k_seconds, "gradcam_subprocess": gradcam_run,
               "scorecam_subprocess": full_run}
    print(json.dumps(figures, indent=1))

    over_bare = medians["vizcore"] / medians["bare"]
    speedup = medians["tf-keras-vis"] / medians["vizcore"]
    correlation = cam_correlation(vm, photo, class_index, ours.grid)
    theirs_correlation = cam_correlation(vm, photo, class_index, theirs_grid)
    extra_memory = full_run["peak_rss_mb"] - full_run["rss_before_mb"]
    gradcam_memory = gradcam_run["peak_rss_mb"] - gradcam_run["rss_before_mb"]
    write_rows("cam", [
        row("Bare forward+backward to top_relu, 224 px (ms)", 1000 * medians["bare"], "ms", "-", True),
        row("Grad-CAM end to end, 224 px photo (ms)", 1000 * medians["vizcore"], "ms", "-", True),
        row("Grad-CAM end to end / bare forward+backward", over_bare, "x", "<= 1.5", over_bare <= 1.5),
        row("tf-keras-vis 0.8.7 Gradcam, same layer and photo (ms)", 1000 * medians["tf-keras-vis"], "ms", "-", True),
        row("Speed-up over tf-keras-vis Gradcam", speedup, "x", ">= 5", speedup >= 5),
        row("Grad-CAM vs CAM from dense weights, correlation", correlation, "r", ">= 0.999", correlation >= 0.999),
        row("tf-keras-vis Gradcam vs CAM from dense weights (reference)", theirs_correlation, "r", "-", True),
        row(f"Faster Score-CAM, top {TOP_K} of 1280 channels (s)", top_k_seconds, "s", "-", True),
        row("Full Score-CAM, 1280 channels (s)", full_run["seconds"], "s", "-", True),
        row("Full Score-CAM / Faster Score-CAM time", full_run["seconds"] / top_k_seconds, "x", "-", True),
        row("Full Score-CAM batch (masked photos per forward)", full_run["batch"], "n", "<= 32", full_run["batch"] <= 32),
        row("Grad-CAM call: peak RSS growth (MB)", gradcam_memory, "MB", "-", True),
        row("Full Score-CAM call: peak RSS growth (MB)", extra_memory, "MB", "< 1024 (bounded by batching)", extra_memory < 1024),
        row("Full Score-CAM process peak RSS (MB)", full_run["peak_rss_mb"], "MB", "< 3000", full_run["peak_rss_mb"] < 3000),
    ])


def _tf_keras_vis_grid(vm, inputs, class_index):
    """tf-keras-vis Gradcam on the layer's own grid (expand_cam=False), for the correlation row."""
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore
    gradcam = Gradcam(vm.keras, model_modifier=ReplaceToLinear(), clone=True)
    return gradcam(CategoricalScore([class_index]), inputs, penultimate_layer=LAYER, expand_cam=False)[0]


if __name__ == "__main__":
    main(sys.argv[1:])
