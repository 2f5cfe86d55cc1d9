"""``models``, ``layers MODEL`` and ``predict MODEL IMAGE``."""
from __future__ import annotations

from ..cli import add_model_argument, model_from_args, print_json
from ..images import load_image
from ..registry import DEFAULT_MODEL, MODELS


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list the models and whether they work offline")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=list_models)

    parser = subparsers.add_parser("layers", help="list a model's layers with spatial output")
    add_model_argument(parser)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=list_layers)

    parser = subparsers.add_parser("predict", help="top classes for a photo")
    add_model_argument(parser)
    parser.add_argument("image", metavar="IMAGE")
    parser.add_argument("--top", type=int, default=5, metavar="K")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=predict)


def list_models(args) -> int:
    rows = [{"name": s.name, "title": s.title, "input_size": list(s.input_size), "status": s.status,
             "default": s.name == DEFAULT_MODEL} for s in MODELS.values()]
    if args.json:
        print_json({"models": rows})
    else:
        for row in rows:
            mark = "*" if row["default"] else " "
            print(f"{mark} {row['name']:<20} {row['title']:<20} {row['input_size'][0]:>3} px  {row['status']}")
    return 0


def list_layers(args) -> int:
    vm = model_from_args(args)
    layers = [{"name": info.name, "channels": info.channels, "kind": info.kind} for info in vm.conv_layers()]
    if args.json:
        print_json({"model": vm.name, "layers": layers})
    else:
        for layer in layers:
            print(f"{layer['name']:<32} {layer['channels']:>5}  {layer['kind']}")
    return 0


def predict(args) -> int:
    image = load_image(args.image)
    vm = model_from_args(args)
    predictions = vm.predict(image, top=args.top)
    if args.json:
        print_json({"model": vm.name, "predictions": [
            {"index": p.index, "label": p.label, "probability": round(p.probability, 6)} for p in predictions]})
    else:
        for p in predictions:
            print(f"{p.probability:7.2%}  {p.index:>4}  {p.label}")
    return 0
