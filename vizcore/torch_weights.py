"""Read PyTorch's legacy (pre-zip) ``.pth`` state dicts into NumPy, without torch.

The legacy format is a run of pickles (magic number, protocol version, system info, the state
dict whose tensors point at storages by persistent id, the list of storage keys), then each
storage's raw little-endian bytes preceded by an 8-byte element count. The unpickler is
restricted: it maps only ``collections.OrderedDict``, the tensor rebuild function and the
storage types, and refuses every other global, so a malicious file cannot run code.
"""

from __future__ import annotations

import collections
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class WeightsFormatError(ValueError):
    """The file is not a legacy PyTorch state dict this reader understands."""


@dataclass
class _StorageRef:
    key: str
    dtype: type


@dataclass
class _TensorRef:
    storage: _StorageRef
    offset: int
    shape: tuple
    stride: tuple


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored):
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: remember where the tensor lives."""
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


class _StorageType:
    """Stand-in for ``torch.FloatStorage`` and friends: only carries the NumPy dtype."""

    def __init__(self, name: str):
        self.dtype = STORAGE_DTYPES[name]


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals a state dict needs; anything else is refused."""

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) in {("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor")}:
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise WeightsFormatError(f"refusing to load global {module}.{name} from a weights file")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, *_rest = pid
        if kind != "storage":
            raise WeightsFormatError(f"unknown persistent id {kind!r}")
        return _StorageRef(str(key), storage_type.dtype)


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Read a legacy ``.pth`` state dict.

    Args:
        path: the ``.pth`` file.

    Returns:
        An ordered dict of parameter name to NumPy array (copies, C-contiguous).

    Raises:
        WeightsFormatError: the file is not a legacy state dict, or asks for other globals.
    """
    with open(path, "rb") as stream:
        if _RestrictedUnpickler(stream).load() != LEGACY_MAGIC:
            raise WeightsFormatError(f"{path} is not a legacy PyTorch file (bad magic number)")
        _RestrictedUnpickler(stream).load()  # protocol version
        _RestrictedUnpickler(stream).load()  # system info
        state = _RestrictedUnpickler(stream).load()
        keys = _RestrictedUnpickler(stream).load()
        dtypes = {ref.storage.key: ref.storage.dtype for ref in state.values()}
        storages = {key: _read_storage(stream, dtypes[key]) for key in keys}
    return collections.OrderedDict((name, _materialise(ref, storages)) for name, ref in state.items())


def _read_storage(stream, dtype) -> np.ndarray:
    """One storage: an 8-byte little-endian element count, then the raw elements."""
    count = int.from_bytes(stream.read(8), "little")
    itemsize = np.dtype(dtype).itemsize
    raw = stream.read(count * itemsize)
    if len(raw) != count * itemsize:
        raise WeightsFormatError("the weights file is truncated")
    return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))


def _materialise(ref: _TensorRef, storages: dict[str, np.ndarray]) -> np.ndarray:
    """Turn a tensor reference into an array by its offset, shape and element strides."""
    flat = storages[ref.storage.key][ref.offset :]
    itemsize = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(flat, ref.shape, [s * itemsize for s in ref.stride])
    return np.ascontiguousarray(view).astype(flat.dtype.newbyteorder("="))
