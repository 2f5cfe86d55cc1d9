"""Which server folders the Audit page may read: only those under the roots a server lists.

A browser never names an arbitrary path on the server: ``.streamlit/vizcore.toml`` (or the file
``$VIZCORE_LIMITS`` names, as for vizcore.limits) lists the folders users may audit::

    [audit]
    roots = ["/data/photos", "/srv/shared/datasets"]

With no such list the page audits nothing and says how to list folders. The CLI is not limited:
it runs with its user's own rights.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import tomllib

from ..errors import RequestError
from ..limits import limits_file
from ..models import weights_cache_dir

SECTION = "audit"


def allowed_roots(path: Path | None = None) -> tuple[Path, ...]:
    """The resolved folders listed under ``[audit] roots``; () when there are none."""
    path = path or limits_file()
    if not path.is_file():
        return ()
    try:
        roots = tomllib.loads(path.read_text()).get(SECTION, {}).get("roots", [])
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise RequestError(f"{path} is not a valid TOML file: {error}") from None
    if not isinstance(roots, list) or not all(isinstance(root, str) for root in roots):
        raise RequestError(f"{path}: [{SECTION}] roots must be a list of folder paths, not {roots!r}.")
    return tuple(Path(root).expanduser().resolve() for root in roots)


def allowed_folder(text: str, roots: tuple[Path, ...]) -> Path:
    """The folder (or .csv) a user typed, resolved, if it lies under one of ``roots``; RequestError otherwise."""
    if not roots:
        raise RequestError(
            f'This server lists no folders to audit: add [{SECTION}] roots = ["/path/to/photos"] to {limits_file()}.'
        )
    folder = Path(text.strip()).expanduser()
    folder = (roots[0] / folder if not folder.is_absolute() else folder).resolve()  # symlinks and ".." resolved
    if not any(folder == root or root in folder.parents for root in roots):
        listed = ", ".join(str(root) for root in roots)
        raise RequestError(f"{text!r} is not under a folder this server allows ({listed}).")
    return folder


def audit_dir(folder: Path, fingerprint: str) -> Path:
    """Where the page keeps the audit of a folder by a model: under the cache, one folder each."""
    key = hashlib.sha256(f"{folder}|{fingerprint}".encode()).hexdigest()[:16]
    return weights_cache_dir() / "audits" / key


def unpacked_dir() -> Path:
    """Where the Audit page unpacks uploaded zips (vizcore.audit.zipped), one folder each."""
    return weights_cache_dir() / "audit-zips"
