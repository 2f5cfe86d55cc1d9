"""The Audit page's "Concepts" view: one class's concepts (CRAFT, vizcore.audit.concepts).

The user picks a class, the number of concepts and a seed; "Find concepts" streams the class's
photos through the model in its turn of the run queue (a progress bar), or the concepts cached with
the audit are read back at once. The view draws each concept's importance (named: a gradient
estimate), its stability across seeds, its feature picture (drawn on request, in turn, and kept
with the audit), its top crops and its map on a photo of the class the user picks.
"""
from __future__ import annotations

from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from ui import runs
from ui.audit_strategies import busiest, enlarged
from ui.streaming import stream
from vizcore import RequestError, drawing, filters
from vizcore.audit import concepts as craft
from vizcore.errors import ImageError
from vizcore.images import load_image

CROP = 80         # px: a top crop as shown
PICTURE = 128     # px: a concept's feature picture as shown
MAP_PHOTO = 160   # px: a concept's map on the chosen photo
IMPORTANCE_TITLE = ("Importance: gradient × concept, the first-order change of the class's score when the concept "
                    "is taken out of a photo (not CRAFT's Sobol indices), averaged over the class's photos.")


def crop_picture(root: Path, crop: dict) -> np.ndarray | None:
    """A top crop cut from its photo (its box, in the photo's pixels), enlarged; None if the photo is gone."""
    try:
        photo = load_image(root / crop["file"], max_side=100_000)
    except ImageError:
        return None
    left, top, right, bottom = crop["box"]
    return np.asarray(Image.fromarray(photo[top:bottom, left:right]).resize((CROP, CROP), Image.Resampling.NEAREST))


def importance_chart(found: craft.Concepts) -> alt.Chart:
    """Each concept's importance, most important first; a concept that lowers the score in another colour."""
    table = pd.DataFrame({"concept": [f"{c.number}" for c in found.concepts],
                          "importance": [c.importance for c in found.concepts],
                          "effect": ["raises the score" if c.importance >= 0 else "lowers the score"
                                     for c in found.concepts]})
    return alt.Chart(table).mark_bar().encode(
        x=alt.X("concept:N", sort=None, title="concept"), y=alt.Y("importance:Q", title="importance"),
        color=alt.Color("effect:N", scale=alt.Scale(domain=["raises the score", "lowers the score"],
                                                    range=["#4c78a8", "#e45756"]), legend=alt.Legend(orient="bottom")),
        tooltip=["concept", "importance"]).properties(height=200)


@st.cache_data(max_entries=16, show_spinner=False)
def cached_photo_concepts(_vm, source: str, root: str, path: str, _found) -> craft.PhotoConcepts:
    """The concepts on one photo of the class (``source``: the concepts' file, keys the cache)."""
    return craft.photo_concepts(_vm, _found, load_image(Path(root) / path))


def find(vm, out: Path, class_name: str, count: int, seed: int) -> craft.Concepts | None:
    """Find the concepts in the run queue's turn, with a progress bar; None if stopped or refused."""
    bar = st.progress(0.0, text="Waiting for the turn…")

    def show(item) -> None:
        if isinstance(item, craft.Progress) and item.stage == "activations":
            bar.progress(item.done / max(item.total, 1), text=f"activations of {item.done}/{item.total} photos")
        elif isinstance(item, craft.Progress):
            bar.progress(1.0, text="factorising and ranking…")

    def work():
        items = list(_kept(craft.find_concepts(vm, out, class_name, concepts=count, seed=seed), show))
        return items[-1] if items and isinstance(items[-1], craft.Concepts) else None

    found = runs.in_turn("audit", work)
    bar.empty()
    return found


def _kept(items, show):
    for item in items:
        show(item)
        yield item


def draw_pictures(vm, found: craft.Concepts) -> None:
    """Robust feature pictures of the concepts' directions, streamed, then kept with the audit."""
    place = st.empty()
    frames: list = []

    def draw(frame) -> None:
        place.image(list(frame.images), caption=[f"concept {c.number}" for c in found.concepts], width=PICTURE // 2)

    def work():
        stream(filters.run(vm, craft.picture_request(vm, found)), frames.append, draw)
        return frames[-1] if frames else None

    last = runs.in_turn("audit", work)
    place.empty()
    if last is not None and last.done:
        craft.store_pictures(found, last.images, last.activations)


def concept_card(found: craft.Concepts, concept: craft.Concept, root: Path, pictures, on_photo, photo) -> None:
    """One concept: its numbers, picture, top crops and map on the chosen photo."""
    stable = f" · stability {concept.stability:.2f}" if concept.stability is not None else ""
    st.markdown(f"#### Concept {concept.number}\nimportance **{concept.importance:+.3g}** "
                f"({concept.share:+.0%} of the concepts' total effect){stable}")
    columns = st.columns([1.3, 4, 1.3])
    if pictures is not None:
        columns[0].image(enlarged(pictures[0][concept.number], PICTURE), caption="its feature picture")
    else:
        columns[0].caption("No picture yet: draw them above.")
    crops = [picture for picture in (crop_picture(root, crop) for crop in concept.top_crops) if picture is not None]
    if crops:
        columns[1].image(crops, caption=[Path(crop["file"]).name for crop in concept.top_crops][:len(crops)],
                         width=CROP)
    if on_photo is not None:
        columns[2].image(enlarged(drawing.overlay(photo, on_photo.maps[concept.number]), MAP_PHOTO),
                         caption=f"on the photo: {on_photo.shares[concept.number]:+.0%} of its score")


def concepts_view(vm, out: Path, root: Path, classes: list[str]) -> None:
    """The view: pickers, Find, the importance chart, pictures, and each concept."""
    picks = st.columns([2, 1, 1])
    class_name = picks[0].selectbox("Class", classes, index=busiest(out, classes), key="concepts_class",
                                    help="The class with the most photos first.")
    count = int(picks[1].number_input("Concepts", 2, craft.MAX_CONCEPTS, craft.DEFAULT_CONCEPTS, key="concepts_k"))
    seed = int(picks[2].number_input("Seed", 0, 1_000_000, 0, key="concepts_seed",
                                     help="The same seed gives the same concepts."))
    try:
        found = craft.stored_concepts(vm, out, class_name, concepts=count, seed=seed)
        if found is None and st.button("Find concepts", icon=":material/category:", key="concepts_run",
                                       help="Streams the class's photos through the model once (kept with the "
                                            "audit), then factorises their activations."):
            found = find(vm, out, class_name, count, seed)
    except RequestError as error:
        st.error(str(error))
        return
    if found is None:
        st.caption("Find concepts: the class's photos through the model, their crops' activations factorised "
                   "into concepts (CRAFT, Fel et al. 2023). Kept with the audit, the same for a seed.")
        return
    stability = f" · stability across seeds **{found.stability:.2f}** (mean cosine)" if found.stability else ""
    st.markdown(f"**{len(found.concepts)}** concepts of **{found.photos}** photos at `{found.layer}` "
                f"({found.cells} crops of {found.receptive_field} px){stability}")
    st.caption(IMPORTANCE_TITLE)
    st.altair_chart(importance_chart(found), width="stretch")
    pictures, slot = craft.stored_pictures(found), st.empty()
    if pictures is None and slot.button("Draw the concepts' pictures", icon=":material/brush:", key="concepts_draw",
                                        help="Robust feature visualisation of each concept's direction."):
        slot.empty()
        draw_pictures(vm, found)
        pictures = craft.stored_pictures(found)
    photo_paths = craft.class_photos(out, found.class_number)
    chosen = st.selectbox("Photo of the class for the concepts' maps", photo_paths, key="concepts_photo")
    on_photo, photo = None, None
    if chosen:
        try:
            photo = load_image(root / chosen)
            on_photo = cached_photo_concepts(vm, found.source or "", str(root), chosen, found)
        except ImageError as error:
            st.error(f"{chosen} can't be read: {error}")
    for concept in found.concepts:
        concept_card(found, concept, root, pictures, on_photo, photo)
