"""Cache keys: how every ``st.cache_data`` of the pages names a model and a photo.

Caches take the model and the photo themselves, and ``HASH_FUNCS`` keys them: a loaded model by
``model_identity`` (its weights' digest and how its output is read), never by ``id(vm)``; an array
(a photo) by all its bytes, never by Streamlit's sample of them.
"""
from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable

import numpy as np

MODEL_TYPE = "vizcore.models.VizModel"  # named, not imported: importing it imports TensorFlow

_IDENTITIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # VizModel → model_identity


def model_identity(vm) -> str:
    """What two loaded models share only if every page shows the same for both: the digest of
    their name, scaling and weights (``vizcore.atlas.model_fingerprint``), the output explained,
    how it is read and the class names. Computed once per loaded model."""
    identity = _IDENTITIES.get(vm)
    if identity is None:
        from vizcore.atlas import model_fingerprint
        labels = hashlib.sha1("\n".join(vm.labels).encode()).hexdigest()[:12]
        head = vm.head.kind if vm.head else "no head"
        identity = _IDENTITIES[vm] = f"{model_fingerprint(vm)}|output {vm.output_index}|{head}|labels {labels}"
    return identity


def array_digest(array: np.ndarray) -> str:
    """Every byte of an array (a photo), its shape and type: Streamlit's own hash samples big arrays."""
    return hashlib.sha1(np.ascontiguousarray(array).tobytes() + f"{array.shape}{array.dtype}".encode()).hexdigest()


# for st.cache_data(hash_funcs=...): a loaded model by its identity, an array (a photo) by all its bytes
HASH_FUNCS: dict[str | type, Callable[..., str]] = {MODEL_TYPE: model_identity, "numpy.ndarray": array_digest}
