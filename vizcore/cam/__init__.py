"""Class activation maps: where a classifier looked to call a photo by a class, and how far to trust it.

* :mod:`vizcore.cam.request` — :func:`cam_request`: a photo, a class and a method checked once, as a value;
* :mod:`vizcore.cam.methods` — one weights function and one :class:`CamMethod` record per method;
* :mod:`vizcore.cam.score_cam` — Score-CAM's weights and its masked passes, in one place;
* :mod:`vizcore.cam.core` — the compiled view, :func:`explain` (a request → a :class:`CamResult`) and
  :func:`heatmap` (a photo and keywords → the same);
* :mod:`vizcore.cam.metrics` — :func:`faithfulness`, :func:`deletion`, :func:`insertion`, :func:`road`
  (all three: :func:`trust_metrics`), :func:`rank_layers` and :func:`rank_maps` (they use the core);
* :mod:`vizcore.cam.sanity` — :func:`sanity_check`, the model-randomisation test (Adebayo et al., 2018).
"""

from .core import (  # noqa: F401
    AUGMENT_BRIGHTNESS,
    AUGMENT_FLIPS,
    DEFAULT_METHOD,
    CamResult,
    compiled_view,
    explain,
    given_map,
    heatmap,
    prepare,
)
from .methods import METHODS, CamContext, CamMethod  # noqa: F401
from .metrics import (  # noqa: F401
    CURVE_STEPS,
    FAITHFULNESS_FRACTIONS,
    FAITHFULNESS_RANDOM_DRAWS,
    ROAD_PERCENTILES,
    Curve,
    Faithfulness,
    LayerScore,
    RankedMap,
    Road,
    TrustMetrics,
    deletion,
    faithfulness,
    insertion,
    rank_layers,
    rank_maps,
    ranked,
    ranking_layers,
    road,
    score_maps,
    trust_metrics,
)
from .request import (  # noqa: F401
    CamRequest,
    cam_request,
    checked_method,
    default_layer,
    default_layer_reason,
    spatial_layers,
    target_layer,
)
from .sanity import (  # noqa: F401
    SANITY_STAGES,
    ClassCheck,
    SanityReport,
    SanityStage,
    cam_explainer,
    sanity_check,
    weight_stages,
)
from .score_cam import FASTER_TOP_K  # noqa: F401
