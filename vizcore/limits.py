"""What a shared server allows: the run queue's size and the caps on one run.

Read once per process from ``.streamlit/vizcore.toml`` beside Streamlit's own ``config.toml``
(``VIZCORE_LIMITS`` names another file). Streamlit warns at every start about options it does
not know, so the limits have a file of their own. Every key is optional::

    [limits]
    runs_at_once = 1      # long runs computing together
    queue_length = 16     # long runs waiting for their turn; one more is refused with a message
    max_steps = 2000      # steps of one run (a dream's: per octave)
    max_size = 1024       # px: the side of a filter image
    max_filters = 64      # images in one grid
    kept_photos = 200     # uploaded photos kept on the server, so that links to them work
    kept_photos_mb = 500  # ... and their size in all, in MB (the least recently used go first)
    user_models_mb = 2000 # users' models held in memory with what is compiled for them, in MB (LRU)
    kept_models_mb = 2000 # uploaded model files kept on disk, in MB (the least recently used go first)
    zip_photos = 2000     # photos in one zip uploaded to the Audit page
    zip_mb = 500          # MB: the size of such a zip, and of what it unpacks to
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

import tomllib

from .errors import RequestError

FILE = Path(".streamlit") / "vizcore.toml"
ENVIRONMENT = "VIZCORE_LIMITS"
SECTION = "limits"


@dataclass(frozen=True)
class Limits:
    runs_at_once: int = 1
    queue_length: int = 16
    max_steps: int = 2000
    max_size: int = 1024
    max_filters: int = 64
    kept_photos: int = 200
    kept_photos_mb: int = 500
    user_models_mb: int = 2000
    kept_models_mb: int = 2000
    zip_photos: int = 2000
    zip_mb: int = 500

    def check_run(self, *, steps: int | None = None, size: int | None = None, images: int | None = None) -> None:
        """RequestError, in a user's words, when one run asks for more than this server allows."""
        asked = (
            (steps, self.max_steps, "steps", "max_steps"),
            (size, self.max_size, "px images", "max_size"),
            (images, self.max_filters, "images in one grid", "max_filters"),
        )
        for value, cap, words, setting in asked:
            if value is not None and value > cap:
                raise RequestError(
                    f"This server allows at most {cap} {words} in one run, and this one asks for "
                    f"{value}. Lower it, or ask whoever runs the server to raise {setting} in "
                    f"{FILE}."
                )


def limits_file() -> Path:
    return Path(os.environ.get(ENVIRONMENT) or FILE)


def read(path: Path | None = None) -> Limits:
    """The limits in ``path`` (default :func:`limits_file`); the defaults when there is no such file.

    Raises:
        RequestError: the file is not TOML, or a value is not a whole number of at least 1
            (``queue_length``: 0 or more) or not a known key; the message names the file and key.
    """
    path = path or limits_file()
    if not path.is_file():
        return Limits()
    try:
        table = tomllib.loads(path.read_text()).get(SECTION, {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise RequestError(f"{path} is not a valid TOML file: {error}") from None
    known = {field.name for field in fields(Limits)}
    values = {}
    for key, value in table.items():
        if key not in known:
            raise RequestError(
                f"{path}: [{SECTION}] has {key!r}, which is not a limit; the limits are "
                + ", ".join(sorted(known))
                + "."
            )
        lowest = 0 if key == "queue_length" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
            raise RequestError(f"{path}: {key} must be a whole number of at least {lowest}, not {value!r}.")
        values[key] = value
    return replace(Limits(), **values)
