"""A zip of photos uploaded to the Audit page, unpacked into a folder of its own, within bounds.

An upload comes from a browser, so the archive is read before anything is written: every entry's
name, kind and declared size is checked, and the whole archive is refused, in words, when

* a name leaves the archive's folder (``../x.jpg``, ``/etc/x``, ``C:\\x``) or is a link (zip slip);
* it holds more photos than the server's ``zip_photos``, or would unpack to more than ``zip_mb``;
* an entry inflates more than :data:`MAX_RATIO` times (a zip bomb: ``42.zip`` inflates a million
  times; photos, already compressed, hardly shrink);
* it is encrypted, damaged, or not a zip at all.

Only photos (and CSV files of labels) are unpacked; folders keep their names, so class subfolders
label photos as a server folder's do. ``zipfile`` stops reading an entry at its declared size, so the
checked sizes bound what is written. The folder is named by the archive's digest: the same zip
uploaded again (or a stopped audit of it) reuses it, and its audit resumes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path, PurePosixPath

from ..errors import RequestError
from ..limits import FILE, Limits
from .folder import IMAGE_SUFFIXES

MAX_RATIO = 100  # an entry that inflates more than this many times is a bomb (JPEGs: about 1×, PNGs: 1–4×)
SMALL_ENTRY = 1 << 20  # bytes: entries smaller than this are not judged by their ratio (a blank PNG shrinks a lot)
KEPT_UNPACKED = 8  # unpacked uploads kept on disk; the least recently used go first
LABELS_SUFFIX = ".csv"


def unpack(data: bytes, into: Path, limits: Limits) -> Path:
    """Unpack an uploaded zip's photos under ``into``; the folder to audit (the archive's single top
    folder when it has one, as a zipped folder does).

    Raises:
        RequestError: not a zip, damaged, encrypted, a path leaving its folder, a link, too many photos,
            too many bytes, or a bomb; the message says which and what the server allows.
    """
    if len(data) > limits.zip_mb * 2**20:
        raise RequestError(
            f"The zip is {len(data) / 2**20:.0f} MB; this server takes zips of at most {limits.zip_mb} MB "
            f"(zip_mb in {FILE})."
        )
    try:
        archive = zipfile.ZipFile(BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as error:
        raise RequestError(f"This file is not a zip archive we can read ({error}).") from None
    with archive:
        wanted = checked_entries(archive.infolist(), limits)
        target = into / hashlib.sha256(data).hexdigest()[:16]
        if not target.is_dir():
            _extract(archive, wanted, target)
    os.utime(target)  # recently used: kept the longest
    _forget_old(into, keep=target)
    return _single_top_folder(target)


def checked_entries(entries: Sequence[zipfile.ZipInfo], limits: Limits) -> list[zipfile.ZipInfo]:
    """The photos and CSV files to unpack, once every entry of the archive has passed its checks."""
    wanted, photos, total = [], 0, 0
    for entry in entries:
        _check_name(entry.filename)
        if stat.S_ISLNK(entry.external_attr >> 16):
            raise RequestError(f"The zip holds a link, {entry.filename!r}; zips with links are refused.")
        if entry.flag_bits & 0x1:
            raise RequestError(f"The zip is encrypted ({entry.filename!r}); upload an unencrypted one.")
        if entry.is_dir() or not _is_wanted(entry.filename):
            continue
        if entry.file_size > SMALL_ENTRY and entry.file_size > MAX_RATIO * max(entry.compress_size, 1):
            raise RequestError(
                f"{entry.filename!r} inflates {entry.file_size / max(entry.compress_size, 1):.0f} times "
                f"({entry.compress_size} bytes to {entry.file_size}): this looks like a zip bomb, "
                "so the zip is refused."
            )
        photos += not entry.filename.lower().endswith(LABELS_SUFFIX)
        total += entry.file_size
        wanted.append(entry)
    if photos > limits.zip_photos:
        raise RequestError(
            f"The zip holds {photos} photos; this server audits at most {limits.zip_photos} from one zip "
            f"(zip_photos in {FILE}). Split it, or audit a folder on the server."
        )
    if total > limits.zip_mb * 2**20:
        raise RequestError(
            f"The zip would unpack to {total / 2**20:.0f} MB; this server unpacks at most {limits.zip_mb} MB "
            f"(zip_mb in {FILE})."
        )
    if not photos:
        suffixes = ", ".join(IMAGE_SUFFIXES)
        raise RequestError(f"The zip holds no photos (files ending in {suffixes}).")
    return wanted


def _check_name(name: str) -> None:
    """Refuse a name that would land outside the folder it is unpacked into."""
    posix = PurePosixPath(name.replace("\\", "/"))
    drive = len(name) > 1 and name[1] == ":"
    if posix.is_absolute() or drive or ".." in posix.parts:
        raise RequestError(
            f"The zip holds {name!r}, a path that leaves its folder; such zips are refused (nothing was unpacked)."
        )


def _is_wanted(name: str) -> bool:
    posix = PurePosixPath(name)
    hidden = any(part.startswith(".") or part == "__MACOSX" for part in posix.parts)
    return not hidden and posix.suffix.lower() in (*IMAGE_SUFFIXES, LABELS_SUFFIX)


def _extract(archive: zipfile.ZipFile, wanted: list[zipfile.ZipInfo], target: Path) -> None:
    """Unpack into a temporary folder beside ``target``, renamed when whole (a failed unpack leaves nothing)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=target.parent))
    try:
        for entry in wanted:
            path = partial.joinpath(*PurePosixPath(entry.filename.replace("\\", "/")).parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(entry) as source, open(path, "wb") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)  # stops at the declared (checked) size
        os.replace(partial, target)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as error:
        raise RequestError(f"The zip is damaged or uses a compression we can't read ({error}).") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _single_top_folder(target: Path) -> Path:
    """A zipped folder unpacks to one folder: audit inside it, so that its subfolders are the classes."""
    inside = [path for path in target.iterdir() if not path.name.startswith(".")]
    return inside[0] if len(inside) == 1 and inside[0].is_dir() else target


def _forget_old(into: Path, keep: Path) -> None:
    unpacked = sorted(
        (path for path in into.iterdir() if path.is_dir() and not path.name.startswith(".")),
        key=lambda path: path.stat().st_mtime,
        reverse=True,
    )
    for path in unpacked[KEPT_UNPACKED:]:
        if path != keep:
            shutil.rmtree(path, ignore_errors=True)
