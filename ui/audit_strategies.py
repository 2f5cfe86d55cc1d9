"""The Audit page's "Strategies" view: one class's maps clustered (SpRAy, vizcore.audit.strategies).

The user picks a class, whether its photos are those labelled it or those the model calls it, and
the number of clusters (or the eigengap's); the view draws the Laplacian's eigenvalues with the gap,
a 2-D map of the photos coloured by cluster (a click shows that photo with its map), and per cluster
its mean map, size, accuracy, confidence, where it looks, its flag, and its exemplar photos.
"""
from __future__ import annotations

from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from vizcore import RequestError, drawing
from vizcore.audit import store
from vizcore.audit.strategies import MAX_CLUSTERS, Strategies, TooFewPhotos, audit_strategies
from vizcore.errors import ImageError
from vizcore.images import load_image

THUMB = 120          # px: an exemplar photo with its map
MEAN_MAP = 120       # px: a cluster's mean map
EXEMPLAR_COLUMNS = 6  # exemplars per row
BY_TITLES = {"true": "labelled this class", "predicted": "called this class by the model"}


@st.cache_data(max_entries=16, show_spinner="Clustering the class's maps…")
def cached_strategies(out_dir: str, stamp: float, class_name: str, by: str, clusters: int | None,
                      embedding: str) -> Strategies:
    """``stamp``: the merged rows' modification time, so that a new audit is clustered again."""
    return audit_strategies(out_dir, class_name, by, clusters, 0, embedding)


def photo_with_map(root: Path, path: str, grid: np.ndarray, side: int = THUMB) -> np.ndarray:
    """The photo with its map on top, at least ``side`` px wide (the map alone when the photo is gone)."""
    try:
        picture = drawing.overlay(load_image(root / path, max_side=max(side, 256)), grid)
    except ImageError:
        picture = drawing.colorize(drawing.resized_map(grid, (side, side)))
    return enlarged(picture, side)


def enlarged(picture: np.ndarray, side: int) -> np.ndarray:
    """A small picture scaled up (nearest) to ``side`` px wide; a large one as it is."""
    if picture.shape[1] >= side:
        return picture
    height = max(1, round(picture.shape[0] * side / picture.shape[1]))
    return np.asarray(Image.fromarray(picture).resize((side, height), Image.Resampling.NEAREST))


def eigengap_chart(found: Strategies) -> alt.Chart:
    """The smallest eigenvalues of the graph's Laplacian, the number of clusters taken in red."""
    table = pd.DataFrame({"k": np.arange(1, len(found.eigenvalues) + 1), "eigenvalue": found.eigenvalues})
    axes = {"x": alt.X("k:O", title="k"), "y": alt.Y("eigenvalue:Q", title="eigenvalue λₖ")}
    line = alt.Chart(table).mark_line(point=True).encode(**axes)
    taken = alt.Chart(table[table["k"] == len(found.clusters)]).mark_point(color="#d62728", size=140, filled=True)
    return (line + taken.encode(**axes)).properties(height=180)


def embedding_chart(found: Strategies) -> alt.Chart:
    """The photos on the 2-D embedding, coloured by cluster, each point clickable."""
    table = pd.DataFrame({
        "x": found.embedding[:, 0], "y": found.embedding[:, 1], "photo": np.arange(len(found.paths)),
        "cluster": [f"{label}" + (" (flagged)" if found.clusters[label].flagged else "") for label in found.labels],
        "path": found.paths,
    })
    picked = alt.selection_point(name="picked", fields=["photo"], on="click")
    return alt.Chart(table).mark_circle(size=70).encode(
        x=alt.X("x:Q", axis=None, scale=alt.Scale(zero=False, nice=False)),
        y=alt.Y("y:Q", axis=None, scale=alt.Scale(zero=False, nice=False)),
        color=alt.Color("cluster:N", title="cluster", scale=alt.Scale(scheme="tableau10"),
                        legend=alt.Legend(orient="bottom")),
        opacity=alt.condition(picked, alt.value(0.95), alt.value(0.35)),
        tooltip=["path:N", "cluster:N"],
    ).add_params(picked).properties(height=320)


def clicked_photo(event) -> int | None:
    """The photo of the point clicked on the embedding, if any."""
    chosen = (event or {}).get("selection", {}).get("picked") or []
    return int(chosen[0]["photo"]) if chosen and "photo" in chosen[0] else None


def cluster_card(found: Strategies, number: int, root: Path) -> None:
    """One cluster: its numbers, where it looks, its flag, its mean map and exemplars."""
    cluster = found.clusters[number]
    numbers = [f"**{cluster.size}** photos"]
    if cluster.accuracy is not None:
        numbers.append(f"accuracy **{cluster.accuracy:.0%}**")
    if cluster.mean_confidence is not None:
        numbers.append(f"mean confidence **{cluster.mean_confidence:.0%}**")
    numbers.append(f"looks at the **{cluster.where}** (edge {cluster.edge_share:.0%} of its mass, "
                   f"{cluster.overlap:.0%} shared with the class's other photos)")
    st.markdown(f"#### Cluster {number}\n" + " · ".join(numbers))
    if cluster.flagged:
        st.warning(f"Flagged: these {cluster.size} photos are decided by the {cluster.where}, where the class's "
                   "other photos are not looked at. A shortcut (a watermark, a frame, a tag) may be at work.",
                   icon=":material/flag:")
    columns = st.columns([1] + [1] * EXEMPLAR_COLUMNS)
    columns[0].image(enlarged(drawing.colorize(cluster.mean_map), MEAN_MAP), caption="mean map")
    for place, at in zip(columns[1:], cluster.exemplars[:EXEMPLAR_COLUMNS]):
        place.image(photo_with_map(root, found.paths[at], found.maps[at]), caption=found.paths[at])


@st.cache_data(max_entries=16, show_spinner=False)
def photo_counts(out_dir: str, stamp: float) -> dict[int, int]:
    """Audited photos per true class (``stamp``: the merged rows' modification time)."""
    labels = store.read_merged(Path(out_dir), ["true_index"])["true_index"].drop_null().to_numpy()
    return {int(index): int(count) for index, count in zip(*np.unique(labels, return_counts=True))}


def busiest(out: Path, classes: list[str]) -> int:
    """The position in ``classes`` of the class with the most labelled photos (0 without labels)."""
    names = list(store.read_manifest(out)["classes"])
    counts = photo_counts(str(out), (out / store.MERGED).stat().st_mtime)
    sizes = [counts.get(names.index(name), 0) if name in names else 0 for name in classes]
    return int(np.argmax(sizes)) if sizes else 0


def strategies_view(out: Path, root: Path, classes: list[str]) -> None:
    """The view: pickers, eigengap, embedding (clickable) and each cluster."""
    picks = st.columns([2, 2, 1])
    class_name = picks[0].selectbox("Class", classes, index=busiest(out, classes), key="strategies_class",
                                    help="The class with the most photos first.")
    by = picks[1].radio("Its photos", list(BY_TITLES), format_func=BY_TITLES.get, key="strategies_by",
                        horizontal=True)
    clusters = picks[2].number_input("Clusters (0: from the eigengap)", 0, MAX_CLUSTERS * 4, 0,
                                     key="strategies_clusters")
    try:
        found = cached_strategies(str(out), (out / store.MERGED).stat().st_mtime, class_name, by,
                                  int(clusters) or None, "auto")
    except TooFewPhotos as few:
        st.info(str(few))
        return
    except RequestError as error:
        st.error(str(error))
        return
    flagged = len(found.flagged)
    st.markdown(f"**{len(found.paths)}** photos {BY_TITLES[by]} · **{len(found.clusters)}** clusters "
                f"({'chosen by you' if found.chosen_by == 'user' else 'from the eigengap'}) · "
                + (f":orange[**{flagged} flagged**]" if flagged else "none flagged"))
    left, right = st.columns([1, 2])
    left.caption("Eigenvalues of the maps' graph: the number of clusters is where the largest gap follows.")
    left.altair_chart(eigengap_chart(found), width="stretch")
    right.caption("Each photo's map, placed by " + ("t-SNE" if found.embedding_method == "tsne" else
                  "spectral coordinates") + ": click a point to see the photo.")
    event = right.altair_chart(embedding_chart(found), width="stretch", on_select="rerun",
                               key="strategies_embedding")
    if (at := clicked_photo(event)) is not None and at < len(found.paths):
        st.image(photo_with_map(root, found.paths[at], found.maps[at], 2 * THUMB),
                 caption=f"{found.paths[at]} · cluster {int(found.labels[at])}")
    for number in range(len(found.clusters)):
        cluster_card(found, number, root)
