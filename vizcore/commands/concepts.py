"""``concepts MODEL AUDIT_DIR --class C``: a class's concepts (CRAFT) from an audit folder: each concept's
importance for the class's score, its top crops (file, box) and its stability across seeds; cached
with the audit, the same for a seed."""

from __future__ import annotations

import argparse
import sys

from ._shared import ProgressBar, add_class_arguments, add_model_argument, model_from_args, print_json


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "concepts",
        help="a class's concepts from an audit (CRAFT): importance, top crops, stability",
        description="Concept recursive activation factorisation (Fel et al., 2023) of one class of an audit folder "
        "made by `vizcore audit` with MODEL: the class's crops' activations factorised by NMF into K concepts.",
    )
    add_model_argument(parser)
    parser.add_argument("audit_dir", metavar="AUDIT_DIR", help="an audit folder (vizcore audit ... --out AUDIT_DIR)")
    add_class_arguments(parser)
    parser.add_argument("--concepts", type=int, metavar="K", help="concepts (default 8)")
    parser.add_argument("--layer", metavar="L", help="the layer (default: the audit's)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same concepts (default 0)")
    parser.add_argument("--json", action="store_true", help="print the concepts as JSON on stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..audit.concepts import DEFAULT_CONCEPTS, Concepts, find_concepts

    vm = model_from_args(args)
    found, bar = None, None
    count = DEFAULT_CONCEPTS if args.concepts is None else args.concepts
    progress = find_concepts(vm, args.audit_dir, args.class_name, concepts=count, seed=args.seed, by=args.by,
                             layer=args.layer)  # fmt: skip
    for item in progress:
        if isinstance(item, Concepts):
            found = item
        elif item.stage == "activations":
            bar = bar or ProgressBar(item.total, "activations")
            bar.update(item.done)
    if bar is not None:
        bar.close()
    assert found is not None
    if args.json:
        print_json(found.to_json())
        return 0
    stability = f" · stability {found.stability:.2f}" if found.stability is not None else ""
    print(f"class {found.class_name}: {len(found.concepts)} concepts of {found.photos} photos at {found.layer} "
          f"({found.cells} crops of {found.receptive_field} px){stability}")  # fmt: skip
    print("importance: gradient × concept, the first-order score lost when the concept is removed", file=sys.stderr)
    for concept in found.concepts:
        crops = ", ".join(f"{crop['file']} {tuple(crop['box'])}" for crop in concept.top_crops[:3])
        print(f"  concept {concept.number}: importance {concept.importance:+.4g} ({concept.share:+.0%})"
              + (f" · stability {concept.stability:.2f}" if concept.stability is not None else "")
              + f" · e.g. {crops}")  # fmt: skip
    return 0
