"""What the pages share, split by concern: each module draws one part that more than one page (or one
long page) needs, from what ``vizcore`` computes. Like ``pages``, this is app code, not the engine:
it imports Streamlit, and ``vizcore`` never imports it.

* :mod:`ui.photos` — the session's working photo: every page's photo picker, uploads kept by digest.
* :mod:`ui.trust` — "Can I trust this map?": a heatmap's scores in numbers, curves and words, the
  sanity check and the method × layer ranking.
* :mod:`ui.thumbnails` — small map overlays for the ranking tables.
"""
