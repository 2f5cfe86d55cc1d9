"""``strategies AUDIT_DIR --class C``: a class's stored maps clustered (SpRAy), each cluster with its
members, mean-map statistics, accuracy and confidence, and a flag on a cluster that looks at the
photo's edge where the class's other photos do not (a candidate Clever Hans shortcut)."""

from __future__ import annotations

import argparse

from ..errors import RequestError
from ._shared import add_class_arguments, print_json


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "strategies",
        help="cluster a class's maps of an audit (SpRAy): the model's strategies, shortcuts flagged",
        description="Spectral relevance analysis (Lapuschkin et al., 2019) of one class of an audit folder made "
        "by `vizcore audit`: its photos' maps clustered, the number of clusters from the eigengap unless given.",
    )
    parser.add_argument("audit_dir", metavar="AUDIT_DIR", help="an audit folder (vizcore audit ... --out AUDIT_DIR)")
    add_class_arguments(parser)
    parser.add_argument("--clusters", type=int, metavar="K", help="number of clusters (default: from the eigengap)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same clusters (default 0)")
    parser.add_argument("--json", action="store_true", help="print the clusters as JSON on stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..audit.strategies import audit_strategies

    if args.clusters is not None and args.clusters < 1:
        raise RequestError(f"clusters must be between 1 and the class's photos, got {args.clusters}.")
    found = audit_strategies(args.audit_dir, args.class_name, args.by, args.clusters, args.seed, "spectral")
    if args.json:
        print_json(found.to_json())
        return 0
    chosen = "chosen by you" if found.chosen_by == "user" else "from the eigengap"
    print(f"class {found.class_name} ({found.by} class): {len(found.paths)} photos, "
          f"{len(found.clusters)} clusters ({chosen})")  # fmt: skip
    for cluster in found.clusters:
        accuracy = f"accuracy {cluster.accuracy:.0%}" if cluster.accuracy is not None else "no labels"
        confidence = f" · confidence {cluster.mean_confidence:.0%}" if cluster.mean_confidence is not None else ""
        flag = "  FLAGGED: looks where the class's other photos do not" if cluster.flagged else ""
        print(f"  cluster {cluster.number}: {cluster.size} photos · {accuracy}{confidence} · looks at the "
              f"{cluster.where} (edge share {cluster.edge_share:.0%}, overlap with the rest {cluster.overlap:.0%})"
              f"{flag}")  # fmt: skip
        print("    e.g. " + ", ".join(found.paths[at] for at in cluster.members[:4]))
    return 0
