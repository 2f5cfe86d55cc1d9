"""Why this class? Which learned features made the prediction, what each looks like, where it fired,
and which real patches excite it most (Olah et al., "The Building Blocks of Interpretability", 2018).

Widgets are read into plain values, ``vizcore.why`` attributes the class's score to the layer's
channels, ``vizcore.examples`` finds each channel's best patches in a folder of photos, and
``vizcore.atlas.why_features`` makes (or reads from the atlas) the channels' feature visualisations,
streamed into their rows last so the rest of the page is there at once. The photo, class,
contrast class and layer are kept in the URL (``ui.links``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import streamlit as st

import vizcore
from ui import audited, links, photos, predictions, runs, warm
from ui.accentuation import what_groups_see_here, what_it_sees_here
from ui.cache_keys import HASH_FUNCS, array_digest, model_identity
from ui.frame import page
from ui.models import cached_spatial_layers
from ui.streaming import stream
from ui.why_concepts import concepts_of_this_class
from ui.widgets import class_title, layer_title, reset_on_change, starting
from vizcore import atlas, cam, drawing, examples, filters, neuron_groups, why, why_drawing

TOP = 5                    # predictions shown beside the photo
MAX_TOP = 16               # channels listed at most
AUTO_LAYER = ""            # the layer selectbox's "automatic" choice
NO_CONTRAST = -1           # the contrast selectbox's "no contrast" choice
PATCHES = 4                # example patches per channel
MAX_UPLOADED_PHOTOS = 50   # extra example photos a session may upload
MAP_METHOD = "why_map_method"  # session_state: the header map's method (set by the Heatmaps page's Why button)
FEATURES = "why_features_frame"  # session_state: the latest feature frame and what it was for


@st.cache_data(max_entries=32, show_spinner=False, hash_funcs=HASH_FUNCS)
def cached_why(vm, image: np.ndarray, class_index: int, contrast: int | None, layer: str | None, top: int) -> why.Why:
    return why.explain(vm, image, class_index=class_index, contrast=contrast, layer=layer, top=top)


@st.cache_data(max_entries=32, show_spinner=False, hash_funcs=HASH_FUNCS)
def cached_heatmap(vm, image: np.ndarray, class_index: int, layer: str, method: str) -> np.ndarray:
    top_k = cam.METHODS[method].channel_budget  # a method that probes channels: its faster default, as Heatmaps'
    return cam.heatmap(vm, image, class_index=class_index, layer=layer, method=method, top_k=top_k).heatmap


@st.cache_data(max_entries=64, show_spinner=False, hash_funcs=HASH_FUNCS)
def cached_patches(vm, layer: str, files: tuple[str, ...], channel: int, _found) -> list:
    return examples.best_patches(vm, _found, channel, PATCHES)


def contrast_title(vm, index: int) -> str:
    """The contrast picker's choice: a class, or no contrast."""
    return "no contrast" if index == NO_CONTRAST else class_title(vm, index)


def settings(vm, top1: int, photo: str) -> tuple[int, int | None, str | None, int]:
    """The class, contrast, layer and channel-count widgets (a link's values first)."""
    model = model_identity(vm)
    reset_on_change("why_class", f"{model}/{photo}", top1)
    reset_on_change("why_contrast", f"{model}/{photo}", NO_CONTRAST)
    reset_on_change("why_layer", model, AUTO_LAYER)
    classes = links.one_of(range(vm.classes), what=f"a class index from 0 to {vm.classes - 1}")
    layers = cached_spatial_layers(vm)
    links.linked("class", "why_class", classes, top1, title=lambda i: class_title(vm, i))
    links.linked("contrast", "why_contrast", classes, NO_CONTRAST, title=lambda i: contrast_title(vm, i))
    links.linked("layer", "why_layer", links.one_of(layers, what=f"a layer of {vm.name} with a feature map"),
                 AUTO_LAYER, title=lambda _: "the automatic layer")
    left, middle, right, last = st.columns([3, 3, 3, 2])
    class_index = left.selectbox("Class to explain", range(vm.classes), key="why_class",
                                 format_func=lambda i: class_title(vm, i), help="Top-1 by default; type to search.")
    contrast = middle.selectbox("Rather than (contrast)", [NO_CONTRAST, *range(vm.classes)], key="why_contrast",
                                format_func=lambda i: contrast_title(vm, i),
                                help="Why this class rather than another: the difference of the two attributions.")
    automatic = cam.default_layer(vm)
    layer = right.selectbox("Layer", [AUTO_LAYER, *reversed(layers)], key="why_layer",
                            format_func=lambda name: f"Automatic · {layer_title(automatic)}"
                            if name == AUTO_LAYER else layer_title(name),
                            help=f"Automatic: the heatmaps' layer. {cam.default_layer_reason(vm)}")
    most = min(MAX_TOP, vm.layer(layer or automatic).channels)
    if st.session_state.get("why_top", 0) > most:  # a smaller layer picked: fewer channels to list
        st.session_state["why_top"] = most
    top = last.number_input("Channels", 1, most, key=starting("why_top", min(why.DEFAULT_TOP, most)))
    return class_index, None if contrast == NO_CONTRAST else contrast, layer or None, int(top)


def example_files() -> tuple[list[Path], str]:
    """The photos to find examples in (the folder audited last, or the samples and $VIZCORE_IMAGES_DIR;
    plus uploads) and where they come from."""
    folders = examples.default_folders()
    with st.expander("Example photos"):
        found = audited.photos()
        use_audit = found is not None and st.toggle(
            f"Examples from the audited folder “{found[0].name}”", value=True, key="why_use_audit",
            help=f"The photos your audit read ({len(found[1])} of them, at most {examples.MAX_AUDITED} spread over "
                 f"its classes), instead of the bundled samples: the patches come from your own data.")
        uploads = st.file_uploader("Add photos", accept_multiple_files=True, key="why_photos",
                                   max_upload_size=photos.PHOTO_MB,
                                   help=f"Up to {MAX_UPLOADED_PHOTOS} photos, besides the samples and "
                                        f"${examples.IMAGES_DIR_VARIABLE}.")
        stored = list({photo.digest: photo.path for photo in map(stored_photo, (uploads or [])[:MAX_UPLOADED_PHOTOS])
                       }.values())  # one photo uploaded twice is one example photo
        named = (f"the audited folder {found[0]} ({len(found[1])} photos)" if use_audit and found
                 else ", ".join(str(folder) for folder in folders))
        st.caption(f"Examples come from {named}" + (f" and {len(stored)} uploaded photos" if stored else "")
                   + ("." if use_audit else f". Set ${examples.IMAGES_DIR_VARIABLE} to a folder of your own "
                      "photos, or audit one on the Audit page."))
    if use_audit and found:
        return found[1] + stored, named
    try:
        files = examples.image_files(folders)
    except vizcore.VizcoreError as error:
        st.warning(str(error))
        files = examples.image_files(folders[:1])
    return files + stored, named


def stored_photo(upload):
    """An uploaded example photo, kept once per content among the server's photos, under the user's file name."""
    return photos.store().put(upload.getvalue(), upload.name)


def index_examples(vm, layer: str, files: list[Path]):
    """The examples index of ``files`` (from the disk cache, or built with a progress bar), or None."""
    bar = None
    try:
        for progress in examples.indexing(vm, layer, files):
            if progress.found is not None:
                if bar:
                    bar.empty()
                return progress.found
            bar = bar or st.progress(0.0)
            bar.progress(progress.done / progress.total, text=f"Indexing example photos… {progress.done}/"
                                                              f"{progress.total}")
    except vizcore.VizcoreError as error:
        st.warning(f"No example patches: {error}")
    return None


def header(vm, image: np.ndarray, result: why.Why) -> None:
    """The photo with the class's heatmap, and the score in numbers."""
    photo, numbers = st.columns([2, 3])
    if result.contrast_index is None:
        method = st.session_state.get(MAP_METHOD, cam.DEFAULT_METHOD)  # the Heatmaps page's, when it opened this one
        method = method if method in cam.METHODS else cam.DEFAULT_METHOD
        heat = cached_heatmap(vm, image, result.class_index, result.layer, method)
        caption = f"{cam.METHODS[method].title} of {result.label} on {result.layer}"
    else:
        heat = result.contribution_map()
        caption = f"Where {result.label} beats {result.contrast_label}"
    photo.image(drawing.overlay(vm.as_seen(image), heat), caption=caption, width="stretch")
    with numbers:
        title = f"**{result.label}** (class {result.class_index})"
        if result.contrast_index is not None:
            title = f"Why **{result.label}** rather than **{result.contrast_label}**"
        st.markdown(title)
        logit, parts = st.columns(2)
        logit.metric("Logit difference" if result.contrast_index is not None else "Logit (pre-softmax)",
                     f"{result.logit:+.3f}")
        total = float(np.sum(result.contributions))
        parts.metric("Channels" if result.exact else "Channels (estimate)", f"{total:+.3f}")
        if result.bias is not None:  # under the number, which a narrow column would cut short
            parts.caption(f"plus the bias {result.bias:+.3f} gives the logit")
        st.caption(result.note + " Share: a channel's contribution over the sum of all contributions' sizes.")


def channel_rows(vm, image: np.ndarray, result: why.Why, found) -> list:
    """A row per top channel; returns the feature image's placeholder of each row, to stream into."""
    biggest = max(abs(channel.share) for channel in result.channels) or 1.0
    places = []
    seen = vm.as_seen(image)
    st.caption("Where it counted: the channel's activation × the class's gradient at each place, which adds up to "
               "its contribution." + (f" On {result.layer} the gradient is the same at every place, so each channel "
                                      "counted where it fired." if result.exact else ""))
    for rank, channel in enumerate(result.channels, 1):
        feature, fired, counted, share, patches = st.columns([2, 2, 2, 3, 6], vertical_alignment="center")
        places.append(feature.empty())
        fired.image(drawing.overlay(seen, result.activation_map(channel.channel), cmap=why_drawing.FIRED_CMAP,
                                    alpha=0.6), caption="where it fired", width="stretch")
        counted.image(drawing.overlay(seen, result.counted_map(channel.channel), cmap=why_drawing.COUNTED_CMAP,
                                      alpha=0.6), caption="where it counted", width="stretch")
        share.markdown(f"**{rank}. channel {channel.channel}**")
        share.progress(min(abs(channel.share) / biggest, 1.0), text=f"{channel.share:+.1%} of the score")
        share.caption(f"contribution {channel.contribution:+.3f}")
        what_it_sees_here(share, vm, image, result.layer, channel.channel)  # below the row when switched on
        found_patches = [] if found is None else cached_patches(vm, found.layer, found.files, channel.channel, found)
        if found_patches:
            for column, patch in zip(patches.columns(PATCHES), found_patches):
                column.image(patch.image, caption=Path(patch.file).stem, width="stretch")
        else:
            patches.caption("No example photo excites this channel.")
    return places


def stream_features(vm, result: why.Why, places: list, steps: int) -> np.ndarray | None:
    """The channels' robust feature visualisations into their rows: the stored frame, or a run streamed."""
    request = (model_identity(vm), result.layer, tuple(c.channel for c in result.channels), steps)
    kept = st.session_state.get(FEATURES)

    def draw(frame) -> None:
        for place, image in zip(places, frame.images):
            place.image(image, caption=f"step {frame.step}/{frame.steps}" if not frame.done else "what it responds to",
                        width="stretch")

    if kept and kept[0] == request and kept[1].done:
        draw(kept[1])
        return kept[1].images

    def keep(frame) -> None:
        st.session_state[FEATURES] = (request, frame)

    try:
        runs.limits().check_run(steps=steps)
        runs.in_turn("why", lambda: stream(atlas.why_features(vm, result, steps=steps), keep, draw), places[0])
    except vizcore.VizcoreError as error:
        st.warning(f"No feature pictures: {error}")
        return None
    kept = st.session_state.get(FEATURES)
    return kept[1].images if kept and kept[0] == request else None


def downloads(place, vm, image: np.ndarray, result: why.Why, found, features: np.ndarray | None) -> None:
    patches = {c.channel: cached_patches(vm, found.layer, found.files, c.channel, found) if found else []
               for c in result.channels}
    numbers = result.as_dict(vm.name)
    for row in numbers["channels"]:
        row["examples"] = [{"file": Path(p.file).name, "activation": round(p.activation, 6), "box": list(p.box)}
                           for p in patches[row["channel"]]]

    def panel_png() -> bytes:
        pictures = {c.channel: features[i] for i, c in enumerate(result.channels)} if features is not None else None
        crops = {channel: [p.image for p in found] for channel, found in patches.items()}
        return drawing.png_bytes(why_drawing.panel(result, vm.as_seen(image), features=pictures, examples=crops))

    name = f"why-{result.label}-{result.layer}".replace(" ", "_").replace("/", "_")
    left, right = place.columns(2)
    left.download_button("Panel PNG", panel_png, file_name=f"{name}.png", mime="image/png",
                         icon=":material/download:", key="why_png", on_click="ignore")
    right.download_button("JSON", json.dumps(numbers, indent=1), file_name=f"{name}.json",
                          mime="application/json", icon=":material/download:", key="why_json", on_click="ignore")


def groups_view(vm, image: np.ndarray, result: why.Why) -> None:
    with st.expander("Neuron groups: the layer's activations factorised into a few parts"):
        count = st.slider("Groups", 2, 8, 4, key="why_groups")
        found = neuron_groups.groups(result, count)
        columns = st.columns(len(found))
        for number, (column, group) in enumerate(zip(columns, found), start=1):
            column.image(drawing.overlay(vm.as_seen(image), neuron_groups.group_map(result, group), cmap="viridis",
                                         alpha=0.6), caption=f"group {number}: {group.share:+.0%} of the score",
                         width="stretch")
        st.caption("Non-negative matrix factorisation of the activations (Building Blocks' neuron groups); "
                   "each group's share is computed as a channel's is.")
        what_groups_see_here(columns, vm, image, result.layer, found)


def main() -> None:
    vm = page("Why this class?", "Which learned features made the prediction: the channels that added "
                                 "most to the class's score, what each responds to, where it fired on the "
                                 "photo and the real patches that excite it most.")
    problems = st.container()
    if not vm.is_classifier or vm.head.kind == "regression":
        st.error(f"{vm.name} has no classes to explain (its output is {vm.output_shape}).")
        st.stop()
    if not cached_spatial_layers(vm):
        st.error(f"{vm.name} has no layer whose feature map is larger than 1×1; there is nothing to attribute.")
        st.stop()
    picker, top = st.columns([2, 3])
    with picker:
        image = photos.image_picker("why")
    if image is None:
        links.share()
        links.show_problems(problems)
        st.info("Pick a sample photo or upload one to begin.")
        st.stop()
    top_classes = predictions.predictions(vm, image, TOP)
    with top:
        st.markdown("**Top predictions**")
        for prediction in top_classes:
            st.progress(min(max(prediction.probability or 0.0, 0.0), 1.0),
                        text=f"{prediction.label} · {prediction.index} — {prediction.probability:.1%}")
    class_index, contrast, layer, count = settings(vm, top_classes[0].index, array_digest(image))
    warming = None  # the feature pictures' step, traced in the background while the rest is drawn
    if st.session_state.get("why_show_features", True):
        warming = warm.warm_up(vm, layer or cam.default_layer(vm), "robust")
    links.share(photo=photos.in_link("why"), **{"class": class_index}, contrast=contrast, layer=layer)
    links.show_problems(problems)
    try:
        result = cached_why(vm, image, class_index, contrast, layer, count)
    except vizcore.VizcoreError as error:
        st.error(str(error))
        st.stop()
    files, _ = example_files()
    header(vm, image, result)
    found = index_examples(vm, result.layer, files)
    if found is not None and found.skipped:
        st.caption(f"{len(found.skipped)} of the example files could not be used and were skipped.")
    heading, buttons = st.columns([3, 2], vertical_alignment="bottom")
    heading.subheader("The channels that made the score")
    places = channel_rows(vm, image, result, found)
    groups_view(vm, image, result)
    toggle, steps_place = st.columns([3, 1], vertical_alignment="center")
    show = toggle.toggle("Feature pictures", value=True, key="why_show_features",
                         help="Robust feature visualisations of the channels: instant when an atlas of this layer "
                              "is stored (`vizcore atlas`), else made here as you watch.")
    most_steps = min(filters.MAX_STEPS, runs.limits().max_steps)
    steps = steps_place.number_input("Steps", 1, most_steps, min(filters.ROBUST_STEPS, most_steps), key="why_steps",
                                     help="Robust optimisation steps: fewer is faster and rougher.")
    if warming is not None:
        warming.join()  # never trace the same step in two threads at once
    features = stream_features(vm, result, places, int(steps)) if show else None
    downloads(buttons, vm, image, result, found, features)
    concepts_of_this_class(vm, image, class_index)  # when the photo's folder was audited


main()
