"""Audit a photo folder: throughput against a bare batched forward+backward pass, against Grad-CAM
photo by photo, the cost of a resume, one shard of four against the whole run, memory as photos grow.

All in one process, on Lite0 at 224 px: after a warm-up (every pass traced), the audit (decode,
predictions, Grad-CAM of each photo's class, map statistics, Parquet) and the bare pass alternate,
median of the repeats, so the ratios hold on a busy machine. The load average is printed with them.
Usage: python bench/bench_audit.py [--quick | --full]   (--full: peak RSS at 1,000 and 5,000 photos)
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import row, write_rows
from PIL import Image

BATCH = 16  # photos per pass, audit and bare pass alike
SAMPLES = Path(__file__).resolve().parent.parent / "assets" / "samples"
FOLDER_CLASSES = {
    "military_uniform": "grace_hopper",
    "tabby": "cat",
    "espresso": "coffee",
    "space_shuttle": "rocket",
    "n09472597": "astronaut",
}  # volcano's synset: a wrong label


def make_folder(root: Path, count: int, labelled: bool = True) -> Path:
    """``count`` JPEGs (~320 px) made from the samples, flipped and cropped to differ: in class folders
    (a fifth of them under a wrong one), or flat (no labels)."""
    rng = np.random.default_rng(0)
    sources = {name: Image.open(SAMPLES / f"{sample}.jpg").convert("RGB") for name, sample in FOLDER_CLASSES.items()}
    for index in range(count):
        name = list(sources)[index % len(sources)]
        image = sources[name]
        left, top = rng.integers(0, image.width // 8), rng.integers(0, image.height // 8)
        crop = image.crop((left, top, left + image.width * 7 // 8, top + image.height * 7 // 8))
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if index % 2 else crop
        crop.thumbnail((320, 320))
        folder = root / name if labelled else root
        folder.mkdir(parents=True, exist_ok=True)
        crop.save(folder / f"{index:05d}.jpg", quality=90)
    return root


def make_phone_folder(root: Path, count: int) -> Path:
    """``count`` 4000×3000 JPEGs, as phones take them (upscaled samples: their decoding is what is timed)."""
    root.mkdir(parents=True, exist_ok=True)
    names = list(FOLDER_CLASSES.values())
    for index in range(count):
        image = Image.open(SAMPLES / f"{names[index % len(names)]}.jpg").convert("RGB")
        image = image.resize((4000, 3000), Image.Resampling.BILINEAR)
        image.save(root / f"{index:03d}.jpg", quality=88)
    return root


def audit_seconds(vm, folder: Path, out: Path, shard=(0, 1)) -> tuple[float, int]:
    from vizcore import audit

    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    last = list(audit.audit(vm, folder, out, audit.settings(vm, batch_size=BATCH), shard))[-1]
    return time.perf_counter() - start, last.computed


def wrong_share(out: Path) -> float:
    """The share of the photos whose true class's map was computed too (the wrong ones)."""
    import pyarrow.parquet as pq

    table = pq.read_table(out / "parts", columns=["correct"]).column("correct").to_pylist()
    return sum(value is False for value in table) / max(len(table), 1)


def bare_pass(vm):
    """A bare batched forward+backward: the top class's score, its gradient on the layer. Nothing else."""
    import tensorflow as tf

    from vizcore import cam

    view = cam.compiled_view(vm, cam.default_layer(vm))
    head = vm.require_head()

    @tf.function(input_signature=[tf.TensorSpec((BATCH, *vm.input_size, 3), tf.float32)])
    def step(inputs):
        with tf.GradientTape() as tape:
            acts, features = view.model(inputs, training=False)
            logits = head.scores(features)
            score = tf.reduce_sum(tf.reduce_max(logits, axis=1))
        return tape.gradient(score, acts)

    return step


def high_water_mb() -> float:
    line = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


def memory_growth(vm, folder: Path, out: Path, marks: tuple[int, int]) -> tuple[float, float]:
    """Peak RSS (MB) after ``marks[0]`` photos and at the end of a run of ``marks[1]``."""
    from vizcore import audit

    shutil.rmtree(out, ignore_errors=True)
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # reset VmHWM to the current RSS
    first = None
    for progress in audit.audit(vm, folder, out, audit.settings(vm, batch_size=BATCH)):
        if first is None and progress.done >= marks[0]:
            first = high_water_mb()
    return first or high_water_mb(), high_water_mb()


def main() -> None:
    import vizcore
    from vizcore import audit, cam

    quick, full = "--quick" in sys.argv, "--full" in sys.argv
    photos, repeats = (32, 2) if quick else (128, 3)
    work = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    vm = vizcore.load_model("efficientnet_lite0")
    folder = make_folder(work / "photos", photos)
    flat = make_folder(work / "flat", photos, labelled=False)
    step = bare_pass(vm)
    inputs = np.asarray(vm.preprocess(np.stack([vm.resize_for_input(vizcore.load_image(p))
                                                for p in sorted(folder.rglob("*.jpg"))[:BATCH]])))  # fmt: skip
    audit_seconds(vm, folder, work / "warm")  # traces the audit's passes
    step(inputs)
    audit_seconds(vm, flat, work / "warm-flat")
    audits, flats, bares = [], [], []
    for _ in range(repeats):  # interleaved: the machine's load falls on all alike
        flats.append(audit_seconds(vm, flat, work / "flat-out")[0] / photos)
        audits.append(audit_seconds(vm, folder, work / "out")[0] / photos)
        start = time.perf_counter()
        for _ in range(photos // BATCH):
            step(inputs).numpy()
        bares.append((time.perf_counter() - start) / (photos // BATCH * BATCH))
    per_photo, per_flat, bare = statistics.median(audits), statistics.median(flats), statistics.median(bares)
    wrong = wrong_share(work / "out")
    images = [vizcore.load_image(p) for p in sorted(folder.rglob("*.jpg"))[:BATCH]]
    cam.heatmap(vm, images[0])
    start = time.perf_counter()
    for image in images:
        cam.heatmap(vm, image)
    one_by_one = (time.perf_counter() - start) / len(images)
    start = time.perf_counter()
    resumed = list(audit.audit(vm, folder, work / "out", audit.settings(vm, batch_size=BATCH)))[-1]
    resume = time.perf_counter() - start
    whole, _ = audit_seconds(vm, folder, work / "whole")
    quarter, shard_photos = audit_seconds(vm, folder, work / "shard", (0, 4))
    rows = [
        row(
            "audit throughput, unlabelled folder (photos/s, Lite0 224 px, batch 16)",
            1 / per_flat,
            "1/s",
            "report",
            True,
        ),  # fmt: skip
        row("bare batched forward+backward (photos/s)", 1 / bare, "1/s", "report", True),
        row("audit (unlabelled) / bare pass throughput", bare / per_flat, "x", ">= 0.8", bare / per_flat >= 0.8),
        row(f"audit throughput, labelled, {wrong:.0%} wrong (+ true-class maps)", 1 / per_photo, "1/s", "report", True),
        row("audit (labelled) / bare pass throughput", bare / per_photo, "x", "report", True),
        row("Grad-CAM photo by photo (photos/s, cam.heatmap)", 1 / one_by_one, "1/s", "report", True),
        row("audit / photo-by-photo Grad-CAM throughput", one_by_one / per_photo, "x", "report", True),
        row(
            f"resume of a finished run of {photos} photos",
            resume,
            "s",
            f"computes 0 (computed {resumed.computed})",
            resumed.computed == 0,
        ),  # fmt: skip
        row(
            f"one shard of four ({shard_photos} photos) / whole run",
            quarter / whole,
            "x",
            "about 0.25",
            0.15 <= quarter / whole <= 0.4,
        ),  # fmt: skip
    ]
    if not quick:
        phone = make_phone_folder(work / "phone", 32)
        audit_seconds(vm, phone, work / "phone-warm")
        phone_seconds = statistics.median(audit_seconds(vm, phone, work / "phone-out")[0] for _ in range(2)) / 32
        rows.append(row("audit throughput, 12 MP phone JPEGs (photos/s; decoded in draft mode)", 1 / phone_seconds,
                        "1/s", "report", True))  # fmt: skip
        rows.append(row("audit on 12 MP JPEGs / bare pass throughput", bare / phone_seconds, "x", "report", True))
    marks = (1000, 5000) if full else (64, 256) if not quick else (32, 96)
    if marks[1] > photos:
        big = make_folder(work / "big", marks[1])
        start = time.perf_counter()
        first, last = memory_growth(vm, big, work / "big-out", marks)
        seconds = time.perf_counter() - start
        rows.append(
            row(f"peak RSS growth, {marks[0]} → {marks[1]} photos", last - first, "MB", "< 100", last - first < 100)
        )
        rows.append(row(f"time for {marks[1]} photos", seconds, "s", "report", True))
    shutil.rmtree(work, ignore_errors=True)
    print(f"load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    write_rows("audit", rows)


if __name__ == "__main__":
    main()
