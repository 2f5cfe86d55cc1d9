"""A map request as one value: the photo, the class and how to explain it, checked once.

:func:`cam_request` checks a photo (RGB uint8, resized once to the model's input size), the class,
the method, the target layer and the method's options against the model; :func:`vizcore.cam.explain`
makes the map, the trust metrics read the photo and the class from the :class:`CamResult` that
carries its request, and a ranking of layers or methods varies a request with
:meth:`CamRequest.but` (only what changed is checked). A request is frozen and hashable (the photo
by its digest), so it keys caches and links.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..checks import class_index as checked_class_index
from ..checks import rgb_image, whole_number
from ..errors import ModelError, RequestError
from ..models import VizModel
from .methods import METHODS, CamMethod

DEFAULT_METHOD = "gradcam"


@dataclass(frozen=True)
class CamRequest:
    """What to explain and how. ``photo`` is the checked photo, ``inputs`` the same at the model's
    input size (both read-only); ``class_index`` −1 asks for the top-1 class (decided by the model)."""

    digest: str  # the photo's pixels' SHA-256 (with its shape): what the request compares by
    class_index: int
    method: str
    layer: str
    top_k: int | None = None  # a method that probes channels (Score-CAM): this many, by variance
    augment: bool = False  # test-time augmentation: flipped × brightened copies averaged
    eigen_smooth: bool = False  # Eigen-CAM: the first principal component of the weighted activations
    lower: bool = False  # explain what lowers the score (a regression output)
    photo: np.ndarray = field(compare=False, repr=False, default_factory=lambda: np.zeros((0, 0, 3), np.uint8))
    inputs: np.ndarray = field(compare=False, repr=False, default_factory=lambda: np.zeros((0, 0, 3), np.uint8))

    @property
    def record(self) -> CamMethod:
        """The method's record (its title, note and options)."""
        return METHODS[self.method]

    def but(self, vm: VizModel, **changes) -> CamRequest:
        """This request with other settings (class_index, method, layer, top_k, lower, …), only the
        changed ones checked; a method without channel probes drops ``top_k``."""
        checks = {
            "class_index": lambda value: checked_class(vm, value),
            "method": lambda value: checked_method(value).name,
            "layer": lambda value: target_layer(vm, value),
            "top_k": checked_top_k,
        }
        checked: dict[str, Any] = {key: checks.get(key, bool)(value) for key, value in changes.items()}
        request = dataclasses.replace(self, **checked)
        return dataclasses.replace(request, top_k=probed_channels(request.record, request.top_k))


def cam_request(
    vm: VizModel,
    image,
    *,
    class_index: int | None = None,
    method: str = DEFAULT_METHOD,
    layer: str | None = None,
    top_k: int | None = None,
    augment: bool = False,
    eigen_smooth: bool = False,
    lower: bool = False,
) -> CamRequest:
    """Check a map request once: the photo (RGB uint8 of any size; grey is expanded), the class
    (None: the top-1), the method (a key of ``METHODS``), the layer (None: the last spatial one) and
    ``top_k`` (methods that probe channels only: that many, by variance).

    Raises:
        ImageError: not an RGB uint8 photo. ModelError: the model's output is not a class vector, or
        it has no spatial layer. RequestError: unknown method, class out of range, a layer without
        spatial extent, a bad top_k.
    """
    photo = _read_only(rgb_image(image))
    record = checked_method(method)
    top_k = probed_channels(record, checked_top_k(top_k))
    digest = hashlib.sha256(repr(photo.shape).encode() + photo.tobytes()).hexdigest()
    return CamRequest(
        digest, checked_class(vm, class_index), record.name, target_layer(vm, layer), top_k, bool(augment),
        bool(eigen_smooth), bool(lower), photo, _read_only(vm.resize_for_input(photo)),
    )  # fmt: skip


def _read_only(array: np.ndarray) -> np.ndarray:
    """A read-only copy (the caller's array is left as it was)."""
    array = np.array(array, copy=True)
    array.flags.writeable = False
    return array


# --- checks at the door ------------------------------------------------------------------------


def checked_method(method: str) -> CamMethod:
    """The CamMethod record called ``method``; RequestError lists the methods otherwise."""
    if method not in METHODS:
        raise RequestError(f"Unknown method {method!r}: use one of {', '.join(METHODS)}.")
    return METHODS[method]


def checked_class(vm: VizModel, class_index) -> int:
    """-1 (top-1, chosen in the compiled pass) for None (a regression's first output); else an index."""
    head = vm.require_head()
    if class_index is None:
        return -1 if head.is_probability else 0
    return checked_class_index(vm, class_index)


def checked_top_k(top_k) -> int | None:
    """None (every channel), or a whole number of channels of at least 1."""
    if top_k is None:
        return None
    try:
        return whole_number("top_k", top_k, 1)
    except RequestError:
        raise RequestError(f"top_k must be a positive number of channels or None, got {top_k!r}.") from None


def probed_channels(record: CamMethod, top_k: int | None) -> int | None:
    """A checked ``top_k`` for a method that probes channels; None for the others (they take none)."""
    return top_k if record.channel_budget is not None else None


def spatial_layers(vm: VizModel) -> list[str]:
    """Layers whose feature map is more than 1×1 at the model's input size, input to output."""
    return [info.name for info in vm.conv_layers() if vm.layer_size(info.name) != (1, 1)]


def default_layer(vm: VizModel) -> str:
    """The last layer with spatial extent (a 4-D output that is not 1×1), at any depth of nesting."""
    layers = spatial_layers(vm)
    if not layers:
        raise ModelError(
            f"{vm.name} has no layer with spatial extent to compute a heatmap on "
            "(no 4-D feature map larger than 1×1); predictions still work."
        )
    return layers[-1]


def default_layer_reason(vm: VizModel) -> str:
    """Why the automatic layer was chosen, in words."""
    layer = default_layer(vm)
    height, width = vm.layer_size(layer)
    size = f"{height}×{width}" if height and width else "spatial"
    return (
        f"{layer} is the last layer with a {size} feature map before the head: the deepest features, "
        "which carry the most class information, while still knowing where things are (Selvaraju et al., 2017)."
    )


def target_layer(vm: VizModel, layer: str | None) -> str:
    """``layer`` checked (RequestError names valid choices), or the default one."""
    if layer is None:
        return default_layer(vm)
    name = vm.layer(layer).name
    if vm.layer_size(name) == (1, 1):
        raise RequestError(f"Layer {layer!r} of {vm.name} has no spatial extent (1×1); pick an earlier layer.")
    return name
