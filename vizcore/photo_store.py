"""Uploaded photos kept on the server by their content's digest, so that a link can name one.

A photo is stored as ``ROOT/<sha256 of its bytes>/<the user's file name>``: the digest is the key
(one photo uploaded twice is stored once, under the name it was uploaded with last), the file name
is what messages and captions show. The
store is bounded in count and in bytes; the least recently used photos are dropped first (each use
touches its folder). A link carries the first ``LINK_DIGITS`` hex digits of the digest. Nothing
here imports Streamlit: the pages keep the store of their server (``ui.photos``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import string
from dataclasses import dataclass
from pathlib import Path

LINK_DIGITS = 16  # hex digits of the digest a link carries (64 bits: no two photos of a server share them)
FALLBACK_NAME = "photo"  # the file name kept when the browser gave none a file system can hold
MAX_NAME_CHARACTERS = 120
HEX = set(string.hexdigits.lower())


@dataclass(frozen=True)
class StoredPhoto:
    """One kept photo: its digest (the key), the name its user gave it, and its file."""

    digest: str
    name: str
    path: Path

    @property
    def link_id(self) -> str:
        """What a link carries to name this photo."""
        return self.digest[:LINK_DIGITS]


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def safe_name(name: str) -> str:
    """The user's file name as it can be stored: its last path part, without control characters, not too long."""
    name = Path(name.replace("\\", "/")).name
    name = "".join(character for character in name if character.isprintable()).strip()
    if len(name) > MAX_NAME_CHARACTERS:
        stem, suffix = os.path.splitext(name)
        name = stem[: MAX_NAME_CHARACTERS - len(suffix)] + suffix
    return name if name not in ("", ".", "..") else FALLBACK_NAME


def is_link_id(text: str) -> bool:
    """Whether ``text`` can name a stored photo: LINK_DIGITS or more lowercase hex digits."""
    return len(text) >= LINK_DIGITS and set(text) <= HEX


class PhotoStore:
    """Photos kept in ``root``, at most ``max_photos`` of them and ``max_bytes`` in all."""

    def __init__(self, root: Path, *, max_photos: int, max_bytes: int):
        self.root, self.max_photos, self.max_bytes = Path(root), max_photos, max_bytes

    def put(self, data: bytes, name: str) -> StoredPhoto:
        """Keep a photo (once per content) and return it under the name given now."""
        digest = digest_of(data)
        folder = self.root / digest
        wanted = folder / safe_name(name)
        kept = self._file_in(folder)
        if kept is None:
            folder.mkdir(parents=True, exist_ok=True)
            partial = folder / f".{os.getpid()}.partial"
            partial.write_bytes(data)
            os.replace(partial, wanted)
        elif kept != wanted:  # uploaded again under another name: the latest name is the one links show
            with contextlib.suppress(OSError):  # another process renamed it first
                os.replace(kept, wanted)
        self._touch(folder)
        self._drop_oldest(keep=digest)
        return StoredPhoto(digest, wanted.name, wanted)

    def find(self, digest: str) -> StoredPhoto | None:
        """The kept photo whose digest is or starts with ``digest`` (a link's), or None if it is gone."""
        if not is_link_id(digest) or not self.root.is_dir():
            return None
        for folder in self.root.glob(f"{digest}*"):
            kept = self._file_in(folder)
            if kept is not None:
                self._touch(folder)
                return StoredPhoto(folder.name, kept.name, kept)
        return None

    def photos(self) -> list[StoredPhoto]:
        """Every kept photo, most recently used first."""
        found = []
        for folder in self._folders():
            kept = self._file_in(folder)
            if kept is not None:
                found.append(StoredPhoto(folder.name, kept.name, kept))
        return found

    def _folders(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        folders = [path for path in self.root.iterdir() if path.is_dir() and len(path.name) == 64]
        return sorted(folders, key=_used_at, reverse=True)

    @staticmethod
    def _file_in(folder: Path) -> Path | None:
        if not folder.is_dir():
            return None
        files = [path for path in folder.iterdir() if path.is_file() and not path.name.startswith(".")]
        return files[0] if files else None

    @staticmethod
    def _touch(folder: Path) -> None:
        with contextlib.suppress(OSError):  # another server process may have just dropped it
            os.utime(folder)

    def _drop_oldest(self, keep: str) -> None:
        """Drop the least recently used photos beyond the count or the bytes allowed (never ``keep``)."""
        count, size = 0, 0
        for folder in self._folders():  # most recently used first: they fill the budget
            kept = self._file_in(folder)
            kept_bytes = kept.stat().st_size if kept is not None else 0
            if folder.name != keep and (count + 1 > self.max_photos or size + kept_bytes > self.max_bytes):
                shutil.rmtree(folder, ignore_errors=True)
                continue
            count, size = count + 1, size + kept_bytes


def _used_at(folder: Path) -> float:
    try:
        return folder.stat().st_mtime
    except OSError:
        return 0.0
