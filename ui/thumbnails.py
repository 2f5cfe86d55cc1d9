"""Small map overlays for tables: a ranking's "map" column shows each map over a thumbnail of the photo,
as a PNG data URL (what ``st.column_config.ImageColumn`` draws)."""
from __future__ import annotations

import base64

import numpy as np
from PIL import Image

from vizcore import drawing

RANK_THUMBNAIL = 96        # px, the longer side of each ranked map's overlay in a table


def thumbnail(image: np.ndarray) -> np.ndarray:
    scale = RANK_THUMBNAIL / max(image.shape[:2])
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))


def data_url(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(drawing.png_bytes(image)).decode()
