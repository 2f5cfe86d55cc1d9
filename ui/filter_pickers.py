"""What a Filters run targets: the layer, its filters (a grid or a list), a neuron's position, classes,
a diversity row or a mix row. Each picker reads a link's values before it draws its widgets and
returns the ``FilterControls`` fields it sets."""
from __future__ import annotations

import streamlit as st

import vizcore
from ui import links, runs
from ui.widgets import layer_title, starting
from vizcore import filters

GRID_SIZES = [1, 4, 16, 64]  # filters per grid
DEFAULT_COUNT = 16           # 16 classic filters take a few seconds
CLASS_SEEDS = [1, 2, 4, 8]   # images per class
DEFAULT_CLASSES = ("goldfish", "espresso", "daisy", "lighthouse")  # shown first when the model has these labels
PICTURES = {  # robust mode's picture: the engine's mode, and its note
    "Fourier": ("robust", "Lucid's 1/f spectrum, free to take any magnitude"),
    "MaCo": ("maco", "a natural photos' magnitude, only the phase optimised, random crops (Fel et al., 2023)"),
}


def default_layer(layers) -> str:
    """A mid-depth convolution: the middle Conv2D at any depth of nesting, or the middle layer if there is none."""
    convolutions = [info for info in layers if info.kind == "Conv2D"] or layers
    return convolutions[len(convolutions) // 2].name


def layer_picker(vm, place) -> str:
    """The layer (a link's first): those with feature maps, a mid-depth convolution by default."""
    layers = vm.conv_layers()
    names = [info.name for info in layers]
    channels = {info.name: info.channels for info in layers}
    read = links.one_of(names, what=f"a layer of {vm.name} with feature maps")
    links.linked("layer", f"filters_layer_{vm.name}", read, default_layer(layers))
    return place.selectbox("Layer", names, key=starting(f"filters_layer_{vm.name}", default_layer(layers)),
                           format_func=lambda name: f"{layer_title(name)} · {channels[name]} filters",
                           help="Layers with feature maps, from input to output (inside nested models too: "
                                "\"· in\" names the model that holds it); the number is its channel count.")


def picture_picker(place) -> str:
    """Robust mode's picture, Fourier or MaCo (a link's ``picture``); returns the engine's mode."""
    links.linked("picture", "filters_picture", links.one_of(PICTURES), "Fourier")
    picture = place.radio("Picture", list(PICTURES), horizontal=True, key=starting("filters_picture", "Fourier"),
                          captions=[note for _, note in PICTURES.values()])
    return PICTURES[picture][0]


def transparency_switch(place) -> bool:
    """MaCo's transparency map as an overlay: on, each picture fades where the objective never looked."""
    return place.toggle("Transparency", key=starting("filters_transparency", False),
                        help="MaCo's transparency map: the gradient of the objective summed over the steps, as the "
                             "picture's opacity; what fades to white mattered least.")


def filter_picker(vm, layer: str) -> dict:
    """A grid of consecutive filters or a list of indices; stops the page if the list can't be read."""
    channels = vm.layer(layer).channels
    linked_filters(channels)
    pick_col, which_col, count_col = st.columns([1, 2, 2])
    pick = pick_col.radio("Filters", ["Grid", "List"], key="filters_pick", horizontal=True)
    if pick == "Grid":
        start = which_col.number_input("First filter", min_value=0, step=1, key=starting("filters_start", 0))
        sizes = [size for size in GRID_SIZES if size <= runs.limits().max_filters] or [1]
        count = count_col.segmented_control("Grid size", sizes, required=True,
                                            key=starting("filters_count", min(DEFAULT_COUNT, sizes[-1])))
        end = min(int(start) + int(count), max(channels, int(start) + 1))
        return {"filters": tuple(range(int(start), end))}
    text = which_col.text_input("Filter indices", key=starting("filters_list", "0-7, 12"),
                                help="Indices and ranges, e.g. 0-7, 12, 40-43.")
    count_col.caption(f"Layer {layer} has filters 0–{channels - 1}.")
    try:
        return {"filters": tuple(filters.parse_filters(text))}
    except vizcore.RequestError as error:
        st.error(str(error))
        st.stop()
        raise


def neuron_picker(vm, layer: str) -> dict:
    """The filters, and the position on the layer's map (its centre unless the user moves it)."""
    chosen = filter_picker(vm, layer)
    height, width = vm.layer_size(layer)
    x = links.from_link("x", links.whole_number(0, max(0, (width or 4096) - 1)), "the centre")
    y = links.from_link("y", links.whole_number(0, max(0, (height or 4096) - 1)), "the centre")
    if x is not None and y is not None:
        st.session_state.update(filters_centre=False, filters_neuron_x=x, filters_neuron_y=y)
    centre_col, x_col, y_col = st.columns([1, 1, 1])
    centre = centre_col.toggle("Centre neuron", key=starting("filters_centre", True),
                               help="The neuron at the centre of each filter's map, as Lucid's neuron objective.")
    if centre:
        return {**chosen, "x": None, "y": None}
    x = x_col.number_input("x", 0, max(0, (width or 1) - 1), key=starting("filters_neuron_x", (width or 1) // 2),
                           help=f"Column on the layer's {width or '?'}-wide map.")
    y = y_col.number_input("y", 0, max(0, (height or 1) - 1), key=starting("filters_neuron_y", (height or 1) // 2),
                           help=f"Row on the layer's {height or '?'}-high map.")
    return {**chosen, "x": int(x), "y": int(y)}


def class_picker(vm, place) -> dict:
    """A searchable list of the model's classes, and how many images of each (each from its own seed)."""
    labels = [vm.label(i) for i in range(vm.classes)]
    default = [labels.index(name) for name in DEFAULT_CLASSES if name in labels][:2] or [0]
    links.linked("class", f"filters_classes_{vm.name}", class_reader(vm), default, many=True,
                 title=lambda chosen: ", ".join(labels[i] for i in chosen))
    links.linked("images", "filters_per_class", links.one_of(CLASS_SEEDS), 2)
    chosen = place.multiselect("Classes", list(range(vm.classes)), key=starting(f"filters_classes_{vm.name}", default),
                               format_func=lambda i: f"{labels[i]} ({i})",
                               placeholder="Type to search classes",
                               help="What the model thinks each of these looks like: images that raise the "
                                    "class's score (before the softmax) as far as they can.")
    per_class = place.segmented_control("Images per class", CLASS_SEEDS, key=starting("filters_per_class", 2),
                                        required=True, help="Each from its own random start.")
    if not chosen:
        st.info("Pick at least one class.")
        st.stop()
    return {"filters": tuple(int(i) for i in chosen), "count": int(per_class)}


def diversity_picker(vm, layer: str) -> dict:
    """One filter, how many images, and how hard they are pushed apart."""
    channels = vm.layer(layer).channels
    links.linked("filter", "filters_diverse_filter", links.whole_number(0, channels - 1), 0)
    links.linked("images", "filters_diverse_count", links.whole_number(2, 16), filters.DIVERSE_COUNT)
    links.linked("diversity", "filters_diversity", links.number(0.0, 1000.0), filters.DIVERSITY)
    filter_col, count_col, weight_col = st.columns(3)
    index = filter_col.number_input("Filter", 0, channels - 1, key=starting("filters_diverse_filter", 0))
    count = count_col.number_input("Images", 2, 16, key=starting("filters_diverse_count", filters.DIVERSE_COUNT))
    weight = weight_col.number_input(
        "Diversity weight", 0.0, 1000.0, key=starting("filters_diversity", filters.DIVERSITY), format="%.1f",
        help="How hard the images are pushed apart (Lucid's diversity term, on the Gram matrices of the layer's "
             "activations); 0 makes them independent.")
    return {"filters": (int(index),), "count": int(count), "diversity": float(weight)}


def mix_picker(vm, layer: str) -> dict:
    """Two filters and the length of the row between them."""
    channels = vm.layer(layer).channels
    links.linked("from", "filters_mix_first", links.whole_number(0, channels - 1), 0)
    links.linked("to", "filters_mix_second", links.whole_number(0, channels - 1), min(1, channels - 1))
    links.linked("images", "filters_mix_count", links.whole_number(2, 16), filters.MIX_COUNT)
    first_col, second_col, count_col = st.columns(3)
    first = first_col.number_input("From filter", 0, channels - 1, key=starting("filters_mix_first", 0))
    second = second_col.number_input("To filter", 0, channels - 1,
                                     key=starting("filters_mix_second", min(1, channels - 1)))
    count = count_col.number_input("Images in the row", 2, 16, key=starting("filters_mix_count", filters.MIX_COUNT))
    return {"filters": (int(first), int(second)), "count": int(count)}


def linked_filters(channels: int) -> None:
    """The link's filters: a grid when they are a run of a grid's size, else a list."""
    def read(text: str) -> tuple[int, ...]:
        try:
            indices = tuple(filters.parse_filters(text))
        except vizcore.RequestError:
            raise ValueError("is not a list of filters like 0-7,12") from None
        if max(indices) >= channels:
            raise ValueError(f"goes past the layer's last filter, {channels - 1}")
        return indices

    chosen = links.from_link("filters", read, f"filters 0–{DEFAULT_COUNT - 1}")
    if chosen is None:
        return
    if len(chosen) in GRID_SIZES and chosen == tuple(range(chosen[0], chosen[0] + len(chosen))):
        st.session_state.update(filters_pick="Grid", filters_start=chosen[0], filters_count=len(chosen))
    else:
        st.session_state.update(filters_pick="List", filters_list=filters_text(chosen))


def filters_text(indices) -> str:
    """[0, 1, 2, 3, 12] → "0-3,12": the filters as a link (and the List box) writes them."""
    runs: list[list[int]] = []
    for index in indices:
        if runs and index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return ",".join(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]) for run in runs)


def class_reader(vm):
    """Reads the link's classes: each an index of the model's classes."""
    def read(texts: list[str]) -> list[int]:
        chosen = [int(text) for text in texts if text.isdigit() and int(text) < vm.classes]
        if len(chosen) != len(texts) or not chosen:
            raise ValueError(f"is not a list of class indices from 0 to {vm.classes - 1}")
        return list(dict.fromkeys(chosen))
    return read
