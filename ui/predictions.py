"""A photo's predictions, as every head gives them: probability bars for a classifier (softmax,
logits, binary, multi-label), values for a regression output, and a line on what the numbers mean."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

import vizcore
from ui.cache_keys import HASH_FUNCS
from ui.colours import ACCENT
from vizcore import timeline

TOP = 5                    # predictions a page shows by default


@st.cache_data(max_entries=32, show_spinner=False, hash_funcs=HASH_FUNCS)
def cached_predictions(vm, image: np.ndarray, top: int = TOP) -> list:
    """[Prediction(index, label, probability or None, value)], top first (a regression's outputs in order)."""
    with timeline.span("predictions"):
        return vm.predict(image, top=top)


def predictions(vm, image, top: int = 5) -> list:
    """``vm.predict`` as Prediction tuples, or [] after an st.error."""
    try:
        with timeline.span("predictions"):
            return vm.predict(image, top=top)
    except vizcore.VizcoreError as error:
        st.error(str(error))
        return []


def predictions_note(vm) -> str:
    """What the numbers mean for this model's head, in one line."""
    kind = vm.head.kind if vm.head else None
    return {
        "binary": "One sigmoid unit: the probability of the positive class; the negative class gets the rest.",
        "multilabel": "Independent probabilities, one sigmoid per label: they need not sum to 100 %.",
        "regression": "Values the model outputs (not probabilities).",
        "logits": "The model outputs logits; shown through a softmax.",
    }.get(kind, "")


def show_values(values: list, max_metrics: int = 4) -> None:
    """A regression model's outputs as values: big numbers, or a table when there are more than ``max_metrics``."""
    if len(values) <= max_metrics:
        for column, value in zip(st.columns(max(len(values), 1)), values):
            column.metric(value.label, f"{value.value:.4g}")
    else:
        st.dataframe([{"output": v.label, "index": v.index, "value": v.value} for v in values],
                     hide_index=True, width="stretch")


def predictions_chart(predictions: list) -> alt.Chart:
    """Horizontal bars, most probable on top, with the probability printed at each bar's end."""
    table = pd.DataFrame([{"class": f"{p.label} · {p.index}", "probability": p.probability} for p in predictions])
    order = list(table["class"])
    base = alt.Chart(table).encode(
        y=alt.Y("class:N", sort=order, title=None, axis=alt.Axis(labelLimit=260)),
        x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title=None))
    bars = base.mark_bar(cornerRadiusEnd=3, color=ACCENT)
    text = base.mark_text(align="left", dx=4, color=ACCENT, fontWeight="bold").encode(
        text=alt.Text("probability:Q", format=".1%"))
    return (bars + text).properties(height=34 * len(table) + 20)
