"""Why this class? on Lite0 at 224 px: the view end to end with an atlas present, the feature
pictures without one (first frame, all 8 channels at the default robust steps), and indexing 100
photos (time and peak memory).

Runs in a fresh cache directory (so "without an atlas" is true), warm process: the model is loaded
and the attribution traced once before timing. "End to end" is what the page computes for a view:
the attribution, the class's heatmap, the examples index (stored), each channel's patches and the
stored feature pictures. Peak memory is the rise of the process's peak RSS (VmHWM, reset just
before indexing) while indexing. The load average is printed: timings are only as quiet as the machine.
Usage: python bench/bench_why.py [--quick]
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["VIZCORE_CACHE_DIR"] = tempfile.mkdtemp(prefix="vizcore-bench-why-")

from common import median_seconds, row, write_rows  # noqa: E402

PHOTO = "assets/samples/grace_hopper.jpg"
PHOTOS = 100              # photos indexed
PHOTO_SIDE = 640          # px, the longer side of each made photo


def high_water_mb() -> float:
    line = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


def reset_high_water() -> None:
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def make_photos(folder: Path, count: int) -> None:
    """``count`` photos from the samples: crops of several sizes and places, half of them mirrored."""
    import numpy as np
    from PIL import Image

    import vizcore
    samples = [vizcore.load_image(path) for path in sorted(Path("assets/samples").glob("*.jpg"))]
    rng = np.random.default_rng(0)
    for i in range(count):
        photo = samples[i % len(samples)]
        height, width = photo.shape[:2]
        side = int(min(height, width) * rng.uniform(0.5, 1.0))
        top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
        crop = Image.fromarray(photo[top:top + side, left:left + side]).resize((PHOTO_SIDE, PHOTO_SIDE))
        if i % 2:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        crop.save(folder / f"photo_{i:03d}.jpg", quality=90)


def view(vm, image, files):
    """What the page computes for one view (the feature pictures from the atlas)."""
    from vizcore import atlas, cam, examples, why
    result = why.explain(vm, image)
    cam.heatmap(vm, image, class_index=result.class_index, layer=result.layer)
    found = examples.index(vm, result.layer, files)
    patches = [examples.best_patches(vm, found, c.channel) for c in result.channels]
    frames = list(atlas.why_features(vm, result))
    assert frames[-1].cached and len(frames) == 1, "the atlas did not answer"
    return result, patches


def main(quick: bool = False) -> None:
    import vizcore
    from vizcore import atlas, examples, why, why_drawing
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"on {os.cpu_count()} CPUs; cache {os.environ['VIZCORE_CACHE_DIR']}")
    vm = vizcore.load_model("efficientnet_lite0")
    image = vizcore.load_image(PHOTO)
    result = why.explain(vm, image)  # trace the attribution's compiled pass
    files = examples.image_files(examples.default_folders())
    rows = []

    steps = 16 if quick else None  # None: the default robust steps
    start = time.perf_counter()
    frames = atlas.why_features(vm, result, steps=steps)
    first = next(frames)
    first_frame = time.perf_counter() - start
    for last in frames:
        pass
    all_steps = time.perf_counter() - start
    rows.append(row("no atlas: first feature frame (8 channels, step 1, traced)", first_frame, "s", "<= 3 s", first_frame <= 3))
    rows.append(row(f"no atlas: all 8 channels, {last.steps} robust steps", all_steps, "s", "reported", True))
    start = time.perf_counter()
    next(atlas.why_features(vm, result, steps=steps, use_cache=False))  # the step is traced now: another view's start
    warm_first = time.perf_counter() - start
    rows.append(row("no atlas: first feature frame, step already traced", warm_first, "s", "<= 3 s", warm_first <= 3))

    if not quick:
        view(vm, image, files)  # the examples index is stored on the first view
        seconds = median_seconds(lambda: view(vm, image, files), repeats=5)
        rows.append(row("Why view end to end, atlas present (Lite0, 224 px)", seconds, "s", "<= 1.5 s", seconds <= 1.5))
        panel_seconds = median_seconds(lambda: why_drawing.panel(result, image), repeats=3)
        rows.append(row("panel PNG drawn (matplotlib)", panel_seconds, "s", "reported", True))

    with tempfile.TemporaryDirectory() as folder:
        count = 20 if quick else PHOTOS
        make_photos(Path(folder), count)
        made = examples.image_files([folder])
        reset_high_water()
        before = high_water_mb()
        start = time.perf_counter()
        found = examples.index(vm, result.layer, made, use_cache=False)
        seconds = time.perf_counter() - start
        peak = high_water_mb() - before
        assert len(found.files) == count
    rows.append(row(f"index {count} photos ({PHOTO_SIDE} px JPEG) on {result.layer}", seconds, "s", "reported", True))
    rows.append(row(f"index {count} photos: peak RSS rise", peak, "MB", "reported", True))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    write_rows("why", rows)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
