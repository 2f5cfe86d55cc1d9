import collections
import pickle
import sys
import types

import numpy as np
import pytest

from vizcore.torch_weights import LEGACY_MAGIC, WeightsFormatError, read_state_dict


def _legacy_file(path, tensors: dict[str, np.ndarray], evil_global=None):
    """Write a legacy .pth by hand: the format read_state_dict must understand."""
    class Storage:  # pickled by persistent id
        def __init__(self, key, array):
            self.key, self.array = key, array

    class Rebuild:
        def __init__(self, storage, shape, stride):
            self.storage, self.shape, self.stride = storage, shape, stride

        def __reduce__(self):
            module, name = evil_global or ("torch._utils", "_rebuild_tensor_v2")
            fn = _global(module, name)
            return (fn, (self.storage, 0, self.shape, self.stride, False, collections.OrderedDict()))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", _global("torch", "FloatStorage"), obj.key, "cpu", obj.array.size)
            return None

    storages = {name: Storage(str(i), a.astype("<f4").ravel()) for i, (name, a) in enumerate(tensors.items())}
    state = collections.OrderedDict(
        (name, Rebuild(storages[name], a.shape, tuple(s // 4 for s in np.ascontiguousarray(a, "<f4").strides)))
        for name, a in tensors.items())
    with open(path, "wb") as f:
        for header in (LEGACY_MAGIC, 1001, {"little_endian": True}):
            pickle.dump(header, f, protocol=2)
        Pickler(f, protocol=2).dump(state)
        pickle.dump([s.key for s in storages.values()], f, protocol=2)
        for s in storages.values():
            f.write(s.array.size.to_bytes(8, "little"))
            f.write(s.array.tobytes())


def _global(module, name):
    """A picklable reference to module.name (fake torch modules are installed by the fixture)."""
    return getattr(sys.modules[module], name)


@pytest.fixture(autouse=True)
def fake_torch(monkeypatch):
    """Stand-ins named like torch's globals, so the writer can pickle references to them."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    storage = type("FloatStorage", (), {"__module__": "torch"})
    def _rebuild_tensor_v2(*args): return args
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    torch.FloatStorage, utils._rebuild_tensor_v2 = storage, _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)


def test_reads_tensors_exactly(tmp_path):
    tensors = {"conv.weight": np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32),
               "fc.bias": np.arange(5, dtype=np.float32)}
    _legacy_file(tmp_path / "w.pth", tensors)
    state = read_state_dict(tmp_path / "w.pth")
    assert list(state) == list(tensors)
    for name, array in tensors.items():
        np.testing.assert_array_equal(state[name], array)


def test_refuses_other_globals(tmp_path):
    _legacy_file(tmp_path / "evil.pth", {"x": np.zeros(2, np.float32)}, evil_global=("os", "system"))
    with pytest.raises(WeightsFormatError, match=r"refusing to load global (os|posix)\.system"):
        read_state_dict(tmp_path / "evil.pth")


def test_bundled_lite0_state_dict():
    from vizcore.models import bundled_weights_path
    from vizcore.registry import MODELS
    state = read_state_dict(bundled_weights_path(MODELS["efficientnet_lite0"]))
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_blocks.3._depthwise_conv.weight"].shape == (144, 1, 5, 5)
