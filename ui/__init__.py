"""What the pages share, split by concern: each module draws one part that more than one page (or one
long page) needs, from what ``vizcore`` computes. Like ``pages``, this is app code, not the engine:
it imports Streamlit, and ``vizcore`` never imports it; it never imports ``pages``.

* :mod:`ui.frame` — the list of pages, the frame around a page, a page's header (``page()``).
* :mod:`ui.sidebar` — the model picker; :mod:`ui.own_model` — a user's model file and its settings.
* :mod:`ui.models` — models loaded once; :mod:`ui.uploads` — uploaded model files on disk;
  :mod:`ui.cache_keys` — how caches key a model and a photo.
* :mod:`ui.runs` — Run and Stop, the server's limits, a long run's turn; :mod:`ui.streaming` — a run's
  frames drawn as they come; :mod:`ui.warm` — compiled steps traced in the background.
* :mod:`ui.links` — shareable links; :mod:`ui.photos` — the session's working photo, uploads kept by digest.
* :mod:`ui.widgets` — widget defaults and resets, layer and class titles; :mod:`ui.predictions` — a
  photo's predictions; :mod:`ui.colours` — the charts' colours.
* :mod:`ui.trust` — "Can I trust this map?": a heatmap's scores in numbers, curves and words, the
  sanity check and the method × layer ranking; :mod:`ui.map_settings` — a map's settings and style;
  :mod:`ui.thumbnails` — small map overlays for the ranking tables.
* :mod:`ui.filter_pickers` — what a Filters run targets; :mod:`ui.keras_state` — Keras' state kept
  across script runs.
"""
