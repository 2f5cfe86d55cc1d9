"""``cam MODEL IMAGE --out overlay.png``: a class activation map over a photo, with its faithfulness;
``--metrics`` (deletion, insertion, ROAD), ``--sanity`` (model randomisation) and ``--rank`` (every
method × the last layers) say how far to trust it."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..checks import whole_number
from ..images import load_image
from ._shared import add_model_argument, model_from_args, print_json, writable_path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "cam",
        help="heatmap of where the model looked (Grad-CAM and friends)",
        description="Write the photo with a class activation map blended on top.",
    )
    add_model_argument(parser)
    parser.add_argument("image", metavar="IMAGE")
    parser.add_argument("--class", dest="class_index", type=int, metavar="N", help="class index (default: top-1)")
    parser.add_argument(
        "--method",
        default="gradcam",
        metavar="METHOD",
        help="gradcam (default), gradcam++, scorecam or layercam: vizcore.cam.METHODS",
    )
    parser.add_argument("--layer", metavar="L", help="target layer (default: the last one with spatial extent)")
    parser.add_argument(
        "--top-k", type=int, metavar="K", help="scorecam: probe only the K channels of highest variance"
    )
    parser.add_argument("--augment", action="store_true", help="smooth with test-time augmentation (flip × brightness)")
    parser.add_argument("--eigen-smooth", action="store_true", help="keep the first principal component")
    parser.add_argument(
        "--lower",
        action="store_true",
        help="explain what lowers the score (regression outputs) instead of what raises it",
    )
    parser.add_argument(
        "--rank-layers",
        action="store_true",
        help="also score the last few spatial layers by faithfulness for this photo, best first",
    )
    parser.add_argument(
        "--metrics", action="store_true", help="also measure deletion and insertion (AUC) and ROAD combined"
    )
    parser.add_argument(
        "--sanity",
        action="store_true",
        help="also run the sanity check: randomise a copy of the model from the output back and compare the maps",
    )
    parser.add_argument("--stages", type=int, default=3, metavar="N", help="--sanity: stages to randomise (default 3)")
    parser.add_argument(
        "--rank",
        action="store_true",
        help="also rank every method × the last 3 stages by ROAD and insertion − deletion, best first "
        "(Score-CAM as Faster Score-CAM)",
    )
    parser.add_argument("--cmap", default="jet", metavar="C", help="matplotlib colormap (default jet)")
    parser.add_argument("--alpha", type=float, default=0.4, metavar="A", help="heatmap opacity 0–1 (default 0.4)")
    parser.add_argument("--out", required=True, metavar="overlay.png", help="where to write the overlay PNG")
    parser.add_argument("--heatmap", metavar="heat.npy", help="also save the float32 heatmap (H, W) in [0, 1]")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from PIL import Image

    from .. import cam, drawing

    out, heatmap_path = writable_path(args.out, ".png"), writable_path(args.heatmap, ".npy") if args.heatmap else None
    drawing.check_overlay(args.cmap, args.alpha)
    cam.checked_method(args.method)
    whole_number("--stages", args.stages, 1)
    image = load_image(args.image)
    vm = model_from_args(args)
    request = cam.cam_request(
        vm, image, class_index=args.class_index, method=args.method, layer=args.layer, top_k=args.top_k,
        augment=args.augment, eigen_smooth=args.eigen_smooth, lower=args.lower,
    )  # fmt: skip
    result = cam.explain(vm, request)
    request = request.but(vm, class_index=result.class_index)  # the top-1 found: what every check explains
    blended = drawing.overlay(request.photo, result.heatmap, cmap=args.cmap, alpha=args.alpha)
    trust = cam.faithfulness(vm, result)
    Image.fromarray(blended).save(out)
    if heatmap_path:
        import numpy as np

        np.save(heatmap_path, result.heatmap)
    ranking = cam.rank_layers(vm, request) if args.rank_layers else None
    extra = _trust(args, vm, request, result)
    _report(args, vm, result, trust, out, heatmap_path, ranking, extra)
    return 0


def _trust(args, vm, request, result) -> dict:
    """The --metrics, --sanity and --rank sections of the JSON report, as asked."""
    from .. import cam

    extra: dict = {}
    if args.metrics:
        metrics = cam.trust_metrics(vm, result)
        extra["metrics"] = {
            "deletion": round(metrics.deletion.auc, 4),
            "insertion": round(metrics.insertion.auc, 4),
            "road": round(metrics.road.combined, 4),
        }
    if args.sanity:
        report = cam.sanity_check(vm, request, stages=args.stages)
        stages = [
            {
                "randomised_from": s.randomised_from,
                "spearman": None if math.isnan(s.spearman) else round(s.spearman, 4),  # undefined: a uniform map
                "ssim": round(s.ssim, 4),
                "uniform": s.uniform,
            }
            for s in report.stages
        ]
        extra["sanity"] = {
            "stages": stages,
            "outcome": report.outcome,
            "passed": report.passed,
            "verdict": report.verdict,
        }
    if args.rank:
        ranked = cam.rank_maps(vm, request)
        extra["ranking"] = [
            {
                "method": item.method,
                "layer": item.layer,
                "road": round(item.road, 4),
                "insertion": round(item.insertion, 4),
                "deletion": round(item.deletion, 4),
            }
            for item in ranked
        ]
    return extra


def _report(args, vm, result, trust, out: Path, heatmap_path: Path | None, ranking, extra: dict) -> None:
    ranked = [{"layer": item.layer, "faithfulness": round(item.faithfulness, 4)} for item in ranking or []]
    if args.json:
        print_json(
            {
                "model": vm.name,
                "head": vm.head.kind,
                "class_index": result.class_index,
                "label": result.label,
                "probability": round(result.score, 6) if vm.head.is_probability else None,
                "value": round(result.score, 6),
                "lower": result.lower,
                "method": result.method,
                "layer": result.layer,
                **({"ranking": ranked} if ranking is not None else {}),
                "faithfulness": round(trust.score, 4),
                "deletion": {
                    "fractions": trust.fractions,
                    "cam_drops": [round(d, 4) for d in trust.cam_drops],
                    "random_drops": [round(d, 4) for d in trust.random_drops],
                },
                **extra,
                "overlay": str(out),
                "heatmap": str(heatmap_path) if heatmap_path else None,
            }
        )
        return
    shown = f"{result.score:.1%}" if vm.head.is_probability else f"value {result.score:.4g}"
    direction = " · what lowers it" if result.lower else ""
    print(f"{result.label} (class {result.class_index}, {shown}) · {result.method} on {result.layer}{direction}")
    share = f"{trust.fractions[-1]:.0%}"
    print(
        f"faithfulness {trust.score:+.2f}: removing the hottest {share} of the photo {_change(trust.cam_drops[-1])}, "
        f"removing {share} at random {_change(trust.random_drops[-1])}"
    )
    for rank, item in enumerate(ranked, 1):
        print(f"{rank}. {item['layer']}  faithfulness {item['faithfulness']:+.2f}")
    _print_trust(extra)
    print(f"wrote {out}" + (f" and {heatmap_path}" if heatmap_path else ""))


def _print_trust(extra: dict) -> None:
    if "metrics" in extra:
        m = extra["metrics"]
        print(
            f"deletion AUC {m['deletion']:.3f} (lower is better) · insertion AUC {m['insertion']:.3f} "
            f"· ROAD {m['road']:+.3f}"
        )
    if "sanity" in extra:
        for stage in extra["sanity"]["stages"]:
            order = (
                "uniform map, Spearman undefined" if stage["spearman"] is None else f"Spearman {stage['spearman']:+.2f}"
            )
            print(f"randomised from {stage['randomised_from']}: {order}, SSIM {stage['ssim']:.2f}")
        print(extra["sanity"]["verdict"])
    for rank, item in enumerate(extra.get("ranking", []), 1):
        print(
            f"{rank}. {item['method']} on {item['layer']}  ROAD {item['road']:+.3f}  "
            f"insertion {item['insertion']:.3f}  deletion {item['deletion']:.3f}"
        )


def _change(drop: float) -> str:
    if f"{abs(drop):.0%}" == "0%":  # never "lowers it by -0%"
        return "barely changes the probability"
    return f"lowers the probability by {drop:.0%}" if drop > 0 else f"raises it by {-drop:.0%}"
