"""``models``, ``layers MODEL`` and ``predict MODEL IMAGE``."""

from __future__ import annotations

from ..images import load_image
from ..registry import DEFAULT_MODEL, MODELS
from ._shared import add_model_argument, model_from_args, print_json


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
    rows = [
        {
            "name": s.name,
            "title": s.title,
            "input_size": list(s.input_size),
            "status": s.status,
            "default": s.name == DEFAULT_MODEL,
        }
        for s in MODELS.values()
    ]
    from ..registry import folder_models, models_dir  # no TensorFlow import needed for the listing

    rows += [
        {"name": name, "title": path.name, "input_size": None, "status": "your models folder", "default": False}
        for name, path in folder_models().items()
    ]
    if args.json:
        print_json({"models": rows, "models_dir": str(models_dir())})
    else:
        for row in rows:
            mark = "*" if row["default"] else " "
            input_size = row["input_size"]
            size = f"{input_size[0]:>3} px" if isinstance(input_size, list) else "      "
            print(f"{mark} {row['name']:<20} {row['title']:<20} {size}  {row['status']}")
        print(f"your models folder: {models_dir()}")
    return 0


def list_layers(args) -> int:
    vm = model_from_args(args)
    layers = [info._asdict() for info in vm.conv_layers()]
    if args.json:
        print_json({"model": vm.name, "layers": layers})
    elif not layers:
        print(f"{vm.name} has no layer with feature maps (4-D output).")
    else:
        width = max(32, max(len(layer["name"]) for layer in layers) + 2)
        for layer in layers:
            print(f"{layer['name']:<{width}} {layer['channels']:>5}  {layer['kind']}")
    return 0


def predict(args) -> int:
    image = load_image(args.image)
    vm = model_from_args(args)
    predictions = vm.predict(image, top=args.top)
    head = vm.head.kind
    if args.json:
        print_json(
            {
                "model": vm.name,
                "head": head,
                "predictions": [
                    {
                        "index": p.index,
                        "label": p.label,
                        "probability": None if p.probability is None else round(p.probability, 6),
                        "value": round(p.value, 6),
                    }
                    for p in predictions
                ],
            }
        )
    else:
        for p in predictions:
            shown = f"{p.value:12.5g}" if p.probability is None else f"{p.probability:7.2%}"
            print(f"{shown}  {p.index:>4}  {p.label}")
    return 0
