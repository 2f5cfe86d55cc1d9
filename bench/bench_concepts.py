"""Strategies (SpRAy) and concepts (CRAFT) of one class of 500 and 2,000 photos, on this CPU.

Lite0 at 224 px, its audit layer (top_relu, 7×7×1280). The audit's rows are SYNTHESISED, not computed:
photos made from the bundled samples (cropped, flipped, resized), all labelled one class, each row
with a synthetic 7×7 map (a spot at a random place, a fifth of them in the top-left corner: a planted
shortcut the strategies should flag); the audit itself is timed by bench_audit.py. The concepts run
is real: every photo through Lite0 forward and backward, the activations streamed to disk, NMF with
8 concepts (and 2 other seeds for the stability), the importance and top crops over every cell.

Each size runs in its own process so that its peak RSS is its own. Figures: seconds for strategies
and for concepts, peak RSS, and the concept pictures' activation on their own direction against the
best crop's (robust ascent, PICTURE_STEPS steps, both measured at 224 px, mean over positions).
Usage: python bench/bench_concepts.py [--quick | --full]   (--quick: 100 and 300 photos; --full: 5,000 too)
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import row, write_rows
from PIL import Image

SAMPLES = Path(__file__).resolve().parent.parent / "assets" / "samples"
CLASS = "military_uniform"
SHORTCUT_SHARE = 0.2  # of the synthetic maps, in the top-left corner
PICTURE_STEPS = 96  # robust ascent steps of the concept pictures (the app's default)
CONCEPTS = 8


def make_photos(root: Path, count: int) -> list[str]:
    """``count`` JPEGs (~256 px) made from the samples, cropped and flipped to differ, in one class folder."""
    rng = np.random.default_rng(0)
    sources = [Image.open(path).convert("RGB") for path in sorted(SAMPLES.glob("*.jpg"))]
    (root / CLASS).mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        image = sources[index % len(sources)]
        left, top = rng.integers(0, image.width // 6), rng.integers(0, image.height // 6)
        crop = image.crop((left, top, left + image.width * 5 // 6, top + image.height * 5 // 6))
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if index % 2 else crop
        crop.thumbnail((256, 256))
        crop.save(root / CLASS / f"{index:05d}.jpg", quality=90)
        paths.append(f"{CLASS}/{index:05d}.jpg")
    return paths


def synthetic_map(rng, corner: bool, side: int = 7) -> np.ndarray:
    """A [0, 1] map with one Gaussian spot: in the top-left corner, or anywhere inside."""
    row, col = (rng.uniform(0, 1, 2) if corner else rng.uniform(1.5, side - 2.5, 2))
    yy, xx = np.mgrid[:side, :side]
    spot = np.exp(-((yy - row) ** 2 + (xx - col) ** 2) / 2.0)
    return (spot / spot.max()).astype(np.float32)


def synthetic_audit(vm, root: Path, out: Path, paths: list[str]) -> None:
    """An audit folder of ``paths`` (all labelled CLASS) with synthetic maps, merged like a real one."""
    from vizcore import audit
    from vizcore.audit import store
    from vizcore.audit.run import manifest

    about = manifest(vm, audit.settings(vm), root, root, "folders")
    store.open_folder(out, about)
    number = about["classes"].index(CLASS.replace("_", " "))
    rng = np.random.default_rng(1)
    rows = []
    for at, path in enumerate(paths):
        grid = synthetic_map(rng, at % 5 == 0)  # a fifth: the shortcut
        rows.append({"path": path, "key": f"k{at}", "digest": f"d{at}", "true_index": number, "pred_index": number,
                     "confidence": 0.9, "correct": True, "map_height": 7, "map_width": 7,
                     "map": grid.ravel().tolist()})
    store.write_part(out, rows)
    store.write_shard(out, 0, 1, [(item["path"], item["key"]) for item in rows])
    audit.finish(out)


def one_size(count: int) -> dict:
    """Strategies and concepts of one class of ``count`` photos; the figures as a dict (run in its own process)."""
    import vizcore
    from vizcore import filters
    from vizcore.audit import concepts as craft
    from vizcore.audit.strategies import audit_strategies

    vm = vizcore.load_model("efficientnet_lite0")
    work = Path(tempfile.mkdtemp(prefix="bench-concepts-"))
    paths = make_photos(work / "photos", count)
    synthetic_audit(vm, work / "photos", work / "audit", paths)
    start = time.perf_counter()
    found = audit_strategies(work / "audit", CLASS.replace("_", " "))
    strategies_seconds = time.perf_counter() - start
    flagged = found.flagged
    corner = {path for at, path in enumerate(paths) if at % 5 == 0}
    members = {found.paths[m] for c in flagged for m in c.members}  # the photos of every flagged cluster
    caught, purity = len(members & corner) / len(corner), len(members & corner) / max(len(members), 1)
    start = time.perf_counter()
    concepts = list(craft.find_concepts(vm, work / "audit", CLASS.replace("_", " "), concepts=CONCEPTS))[-1]
    concepts_seconds = time.perf_counter() - start
    last = list(filters.run(vm, craft.picture_request(vm, concepts, steps=PICTURE_STEPS)))[-1]
    pictures = craft.direction_activation(vm, concepts.layer, last.images, concepts.bank)
    crops = []
    for concept in concepts.concepts:
        best = concept.top_crops[0]
        left, top, right, bottom = best["box"]
        crops.append(np.asarray(Image.open(work / "photos" / best["file"]).convert("RGB"))[top:bottom, left:right])
    best_crops = craft.direction_activation(vm, concepts.layer, np.stack([vm.resize_for_input(c) for c in crops]),
                                            concepts.bank)
    disk_mb = sum(f.stat().st_size for f in (work / "audit").rglob("*.npy")) / 2**20
    shutil.rmtree(work, ignore_errors=True)  # gigabytes at 5,000 photos
    return {"count": count, "strategies_s": strategies_seconds, "embedding": found.embedding_method,
            "clusters": len(found.clusters), "flagged": len(flagged), "corner_caught": caught, "flagged_purity": purity,
            "concepts_s": concepts_seconds, "stability": concepts.stability,
            "ratios": (pictures / np.maximum(best_crops, 1e-9)).tolist(),
            "disk_mb": disk_mb,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        print(json.dumps(one_size(int(sys.argv[2]))))
        return
    sizes = (100, 300) if "--quick" in sys.argv else (500, 2000, 5000) if "--full" in sys.argv else (500, 2000)
    print(f"load average at start: {os.getloadavg()}")
    rows = []
    for count in sizes:
        done = subprocess.run([sys.executable, __file__, "--one", str(count)], capture_output=True, text=True,
                              check=True)
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(figures))
        ratio = float(np.median(figures["ratios"]))
        rows += [
            row(f"strategies of {count} photos ({figures['embedding']}), s", figures["strategies_s"], "s",
                "< 60", figures["strategies_s"] < 60),
            row(f"strategies of {count}: corner photos in flagged clusters", figures["corner_caught"], "share",
                ">= 0.9", figures["corner_caught"] >= 0.9),
            row(f"strategies of {count}: flagged photos that are corner photos", figures["flagged_purity"], "share",
                ">= 0.9", figures["flagged_purity"] >= 0.9),
            row(f"concepts of {count} photos (k={CONCEPTS}, 3 seeds), s", figures["concepts_s"], "s",
                "report", True),
            row(f"peak RSS, one class of {count}", figures["peak_rss_mb"], "MiB", "< 4096",
                figures["peak_rss_mb"] < 4096),
            row(f"activations + gradients on disk, {count} photos", figures["disk_mb"], "MiB", "report", True),
            row(f"concept picture / best crop activation (median of {CONCEPTS})", ratio, "x", ">= 1", ratio >= 1),
        ]
    print(f"load average at end: {os.getloadavg()}")
    write_rows("concepts", rows)


if __name__ == "__main__":
    main()
