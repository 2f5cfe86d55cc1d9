"""Class activation maps: where a classifier looked to call a photo by a class, and how far to trust it.

* :mod:`vizcore.cam.methods` — one weights function and one :class:`CamMethod` record per method;
* :mod:`vizcore.cam.core` — the compiled view and :func:`heatmap`;
* :mod:`vizcore.cam.metrics` — :func:`faithfulness` and :func:`rank_layers` (they use the core).
"""

from .core import (  # noqa: F401
    AUGMENT_BRIGHTNESS,
    AUGMENT_FLIPS,
    DEFAULT_METHOD,
    CamResult,
    checked_method,
    compiled_view,
    default_layer,
    default_layer_reason,
    heatmap,
    spatial_layers,
)
from .methods import METHODS, CamContext, CamMethod  # noqa: F401
from .metrics import (  # noqa: F401
    FAITHFULNESS_FRACTIONS,
    FAITHFULNESS_RANDOM_DRAWS,
    Faithfulness,
    LayerScore,
    faithfulness,
    rank_layers,
)
