"""The Why page's "Concepts of this class": when the photo at hand was audited on the Audit page (an
audit by this model whose rows hold a photo with the same bytes), the class's concepts (CRAFT,
vizcore.audit.concepts) drawn on this photo, each with its share of the class's score here; found in
the run queue's turn when none are stored yet."""
from __future__ import annotations

import streamlit as st

from ui import photos
from ui.audit_concepts import find
from ui.audit_strategies import enlarged
from ui.cache_keys import model_identity
from vizcore import RequestError, drawing
from vizcore.audit import concepts as craft
from vizcore.audit import store

LOOKUP_SECONDS = 30  # how long a photo's audit lookup is kept (a new audit shows up after this)
COLUMNS = 4          # concepts per row
SIDE = 160           # px: a concept's map on the photo


def working_digest() -> str | None:
    """The sha256 of the working photo's file: an upload's, or a sample's."""
    _, photo = photos.working()
    if photo.source == photos.UPLOAD:
        return photo.upload.digest if photo.upload is not None else None
    path = photos.sample_paths().get(photo.sample)
    return store.file_digest(path) if path is not None else None


@st.cache_data(ttl=LOOKUP_SECONDS, max_entries=32, show_spinner=False)
def cached_audit(_vm, model: str, digest: str) -> craft.AuditedPhoto | None:
    """The page audit by this model holding the photo (``model``, ``digest``: the cache's keys)."""
    return craft.audit_of_photo(_vm, digest)


def concepts_of_this_class(vm, image, class_index: int) -> None:
    """The section, when the photo's folder was audited; nothing otherwise."""
    digest = working_digest()
    audited = cached_audit(vm, model_identity(vm), digest) if digest else None
    if audited is None:
        return
    class_name = vm.label(class_index)
    st.subheader(f"Concepts of {class_name}")
    try:
        stored = craft.stored_for_class(vm, audited.out, class_index)
        found = stored[0] if stored else None
        if found is None and st.button(f"Find the concepts of {class_name}", icon=":material/category:",
                                       key="why_concepts_run", help="From the photos of the audited folder "
                                       "labelled this class: CRAFT, kept with the audit."):
            found = find(vm, audited.out, class_name, craft.DEFAULT_CONCEPTS, 0)
        if found is None:
            st.caption(f"This photo was audited ({audited.path}): the concepts of {class_name} can be found from "
                       "the folder's photos of that class.")
            return
        here = craft.photo_concepts(vm, found, image)
    except RequestError as error:
        st.error(str(error))
        return
    st.caption(f"{len(found.concepts)} concepts of {found.photos} photos of the audited folder at `{found.layer}`. "
               "Each map: where the concept is on this photo; its share: the first-order change of the score "
               "when the concept is taken out of this photo, over the concepts' total (a gradient estimate).")
    pictures = craft.stored_pictures(found)
    columns = st.columns(COLUMNS)
    seen = vm.as_seen(image)
    for at, concept in enumerate(found.concepts):
        place = columns[at % COLUMNS]
        place.image(enlarged(drawing.overlay(seen, here.maps[concept.number]), SIDE),
                    caption=f"concept {concept.number}: {here.shares[concept.number]:+.0%} of the score here")
        if pictures is not None:
            place.image(enlarged(pictures[0][concept.number], SIDE // 2), caption="its feature picture")
