"""Shareable links (ui/links.py): a page's main choices in the URL's query, through AppTest.

First the mechanics, on a small script with no model (fast); then the Heatmaps and Dream pages
and the model picker, opened the way a copied link opens them: a fresh session whose first run
is the page, with ``at.query_params`` set before it.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui import links

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 300  # TensorFlow import, the model's load and a heatmap on a cold process


# --- readers and texts ---------------------------------------------------------------------------

def test_one_of_reads_a_choice_by_its_text():
    read = links.one_of([0.01, 0.02, 0.1])
    assert read("0.02") == 0.02 and read("0.020") == 0.02 and read("1e-1") == 0.1
    with pytest.raises(ValueError, match=r"^is not one of 0.01, 0.02 or 0.1$"):
        read("-1")
    names = links.one_of(["grace hopper", "cat"], text=lambda name: name.replace(" ", "_"))
    assert names("grace_hopper") == names("grace hopper") == "grace hopper"
    with pytest.raises(ValueError, match="^is not a class index from 0 to 9$"):
        links.one_of(range(10), what="a class index from 0 to 9")("10")
    with pytest.raises(ValueError, match=r"one of the 20 choices \(0, 1 … 19\)"):
        links.one_of(range(20))("x")


@pytest.mark.parametrize("text", ["abc", "", "2.5", "0", "101", "1e3"])
def test_whole_number_refuses_what_is_not_one_in_range(text):
    with pytest.raises(ValueError, match="^is not a whole number from 1 to 100$"):
        links.whole_number(1, 100)(text)


@pytest.mark.parametrize("text", ["nan", "inf", "-1", "x", "3.5"])
def test_number_refuses_what_is_not_one_in_range(text):
    with pytest.raises(ValueError, match="^is not a number from 0 to 3$"):
        links.number(0.0, 3.0)(text)


def test_numbers_read_and_written():
    assert links.whole_number(0, 10)("7") == 7 and links.number(0.0, 3.0)("2.5") == 2.5
    assert [links.url_text(v) for v in (20, 0.02, 2.0, 1e-05, "top_relu")] == ["20", "0.02", "2", "1e-05", "top_relu"]
    assert links.url_texts(None) == [] and links.url_texts(["a", 1.5]) == ["a", "1.5"]
    assert links.quoted("a`b") == "`a'b`" and len(links.quoted("x" * 500)) == links.QUOTED + 2


# --- the mechanics, on a small script ------------------------------------------------------------

def linked_script():
    """A frame (a model picker) and a page with three linked widgets, as app.py and a page draw them."""
    import streamlit as st

    from ui import links

    links.linked("model", "model", links.one_of(["alpha", "beta"]), "alpha")
    model = st.sidebar.selectbox("Model", ["alpha", "beta"], key="model")
    links.share_across_pages(model=model)
    problems = st.container()
    links.linked("steps", "steps", links.whole_number(1, 10), 5)
    steps = st.slider("Steps", 1, 10, 5, key="steps")
    links.linked("lr", "lr", links.one_of((0.01, 0.02, 0.05)), 0.01)
    lr = st.select_slider("Learning rate", (0.01, 0.02, 0.05), key="lr")
    chosen = links.from_link("layers", lambda texts: texts, ["a"], many=True)
    links.share({"class": 3}, steps=steps, lr=lr, layers=chosen or ["a"], nothing=None)
    links.show_problems(problems)


def opened(script, **query) -> AppTest:
    """A fresh session opened on a link with this query, after its first run."""
    at = AppTest.from_function(script, default_timeout=60)
    at.query_params.update(query)
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_link_sets_the_widgets_and_the_url_keeps_it():
    at = opened(linked_script, model="beta", steps="7", lr="0.020", layers=["b", "c"])
    assert not at.warning, [w.value for w in at.warning]
    assert at.sidebar.selectbox(key="model").value == "beta"
    assert at.slider(key="steps").value == 7 and at.select_slider(key="lr").value == 0.02
    assert at.query_params == {"model": "beta", "class": "3", "steps": "7", "lr": "0.02", "layers": ["b", "c"]}


def test_a_link_is_applied_once_then_the_widgets_rule():
    at = opened(linked_script, model="beta", steps="7")
    at.slider(key="steps").set_value(3).run()
    assert at.slider(key="steps").value == 3  # not the link's 7 again
    assert at.query_params["steps"] == "3"
    at.sidebar.selectbox(key="model").set_value("alpha").run()
    assert at.sidebar.selectbox(key="model").value == "alpha" and at.query_params["model"] == "alpha"
    assert at.slider(key="steps").value == 3


def test_bad_values_are_named_with_what_is_shown_instead_once():
    at = opened(linked_script, model="gamma", steps="abc", lr="-1")
    assert [w.value for w in at.warning] == [
        "This link has values this page can't use:\n\n"
        "- model `gamma` is not one of alpha or beta; showing alpha instead.\n"
        "- steps `abc` is not a whole number from 1 to 10; showing 5 instead.\n"
        "- lr `-1` is not one of 0.01, 0.02 or 0.05; showing 0.01 instead."]
    assert at.sidebar.selectbox(key="model").value == "alpha" and at.slider(key="steps").value == 5
    assert at.query_params == {"model": "alpha", "class": "3", "steps": "5", "lr": "0.01", "layers": "a"}
    at.run()
    assert not at.warning  # shown once


def test_one_bad_value_is_one_sentence():
    at = opened(linked_script, steps="11")
    assert [w.value for w in at.warning] == ["This link's steps `11` is not a whole number from 1 to 10; "
                                             "showing 5 instead."]


def test_keys_of_other_pages_leave_the_url_and_never_come_back():
    at = opened(linked_script, model="beta", show="filters", filters="0-7")
    assert set(at.query_params) == {"model", "class", "steps", "lr", "layers"}


def test_a_link_is_spent_once_a_page_has_shared():
    """Keys a page did not read are not read later by another page: the link belonged to the first."""
    def later_page():
        import streamlit as st

        from ui import links
        if st.session_state.get("second_page"):
            links.linked("seed", "seed", links.whole_number(0, 99), 0)
            st.number_input("Seed", 0, 99, key="seed")
        links.share()

    at = opened(later_page, seed="42")
    assert at.query_params == {}
    at.session_state["second_page"] = True
    at.run()
    assert at.number_input(key="seed").value == 0


# --- the pages -----------------------------------------------------------------------------------

def page_opened(page: str | None, **query) -> AppTest:
    """A fresh session whose first run is ``page`` (None: Home), opened on a link with this query."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update(query)
    if page:
        at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def image_captions(at) -> list[str]:
    return [caption for image in at.get("image") for caption in image.captions]


def warning_lines(at) -> str:
    return "\n".join(warning.value for warning in at.warning)


HEATMAP_LINK = {"model": "efficientnet_lite0", "photo": "coffee", "class": "967", "method": "layercam",
                "layer": "block7a_project_conv"}


def test_a_heatmaps_link_opens_that_map():
    at = page_opened("heatmaps", **HEATMAP_LINK)
    assert not at.warning and not at.error, (warning_lines(at), at.error)
    assert at.sidebar.selectbox(key="model_name").value == "efficientnet_lite0"
    assert at.selectbox(key="heat_sample").value == "coffee"
    assert at.selectbox(key="heat_class").value == 967
    assert at.selectbox(key="heat_method").value == "layercam"
    assert at.selectbox(key="heat_layer").value == "block7a_project_conv"
    captions = image_captions(at)
    assert "LayerCAM on block7a_project_conv" in captions
    assert any(caption.startswith("espresso · ") for caption in captions)
    assert at.query_params == HEATMAP_LINK


def test_a_heatmaps_link_with_garbage_says_so_and_shows_the_defaults():
    at = page_opened("heatmaps", model="nope", photo="moon", **{"class": "99999"}, method="nope", layer="x")
    lines = warning_lines(at)
    assert "model `nope` is neither a model vizcore knows nor a file in your models folder" in lines
    assert "showing EfficientNet-Lite0" in lines
    assert "photo `moon` is not one of astronaut, cat, coffee, grace_hopper or rocket, nor an uploaded photo " \
           "(upload-…); showing the grace hopper photo instead." in lines
    assert "class `99999` is not a class index from 0 to 999; showing military uniform · 652 instead." in lines
    assert "method `nope` is not one of gradcam, gradcam++, scorecam or layercam; showing Grad-CAM instead." in lines
    assert "layer `x` is not a layer of efficientnet_lite0 with a feature map; showing the automatic layer" in lines
    assert at.selectbox(key="heat_sample").value == "grace hopper"
    assert at.selectbox(key="heat_class").value == 652 and at.selectbox(key="heat_method").value == "gradcam"
    assert at.selectbox(key="heat_layer").value == ""  # automatic
    assert any(caption.startswith("Grad-CAM on ") for caption in image_captions(at))
    assert at.query_params == {"model": "efficientnet_lite0", "photo": "grace_hopper", "class": "652",
                               "method": "gradcam"}


def test_changing_heatmaps_choices_updates_the_link():
    at = page_opened("heatmaps", **HEATMAP_LINK)
    at.selectbox(key="heat_method").set_value("gradcam++")
    at.selectbox(key="heat_class").set_value(968).run()  # a cup
    assert not at.exception and not at.warning
    assert at.selectbox(key="heat_class").value == 968  # not the link's 967 again
    assert at.selectbox(key="heat_layer").value == "block7a_project_conv"
    assert at.query_params == {**HEATMAP_LINK, "class": "968", "method": "gradcam++"}
    at.selectbox(key="heat_layer").set_value("").run()  # automatic: left out of the link
    assert "layer" not in at.query_params
    at.radio(key="heat_source").set_value("Upload").run()  # an upload cannot be linked
    assert at.query_params == {"model": "efficientnet_lite0"}


DREAM_LINK = {"model": "efficientnet_lite0", "photo": "noise", "layers": ["block4c_add", "block5c_add~2.5"],
              "steps": "2", "lr": "0.02", "octaves": "1", "seed": "7"}


def test_a_dream_link_sets_the_dream_up():
    at = page_opened("dream", **DREAM_LINK)
    assert not at.warning and not at.error, (warning_lines(at), at.error)
    assert at.radio(key="dream_source").value == "Noise"
    assert at.multiselect(key="dream_layers_efficientnet_lite0").value == ["block4c_add", "block5c_add"]
    assert at.slider(key="dream_weight_efficientnet_lite0_block4c_add").value == 1.0
    assert at.slider(key="dream_weight_efficientnet_lite0_block5c_add").value == 2.5
    assert at.slider(key="dream_steps").value == 2 and at.select_slider(key="dream_lr").value == 0.02
    assert at.slider(key="dream_octaves").value == 1 and at.number_input(key="dream_seed").value == 7
    assert at.query_params == DREAM_LINK
    at.button(key="dream_run_button").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    run = at.session_state["dream_run"]
    assert run["status"] == "finished" and run["total"] == 2 and len(run["losses"]) == 2


def test_a_dream_link_with_garbage_says_so_and_sets_the_defaults():
    at = page_opened("dream", photo="moon", layers=["block4c_add", "nope"], steps="abc", lr="-1", octaves="99",
                     seed="-5")
    lines = warning_lines(at)
    for problem in ["layers `block4c_add, nope` has `nope`, which is not a layer of efficientnet_lite0 with feature "
                    "maps; showing the default mix (block4c_add at 1, block5c_add at 1.5) instead.",
                    "steps `abc` is not a whole number from 1 to 100; showing 20 instead.",
                    "lr `-1` is not one of 0.002, 0.005, 0.01, 0.02, 0.03, 0.05 or 0.1; showing 0.01 instead.",
                    "octaves `99` is not a whole number from 1 to 6; showing 3 instead.",
                    "seed `-5` is not a whole number from 0 to 2147483647; showing 0 instead.",
                    "photo `moon` is not one of astronaut, cat, coffee, grace_hopper, rocket or noise"]:
        assert problem in lines, lines
    assert at.radio(key="dream_source").value == "Sample photo"
    assert at.multiselect(key="dream_layers_efficientnet_lite0").value == ["block4c_add", "block5c_add"]
    assert at.slider(key="dream_steps").value == 20 and at.select_slider(key="dream_lr").value == 0.01
    assert at.query_params == {"model": "efficientnet_lite0", "photo": "grace_hopper",
                               "layers": ["block4c_add", "block5c_add"], "steps": "20", "lr": "0.01",
                               "octaves": "3", "seed": "0"}


def test_a_dream_weight_out_of_range_is_named():
    at = page_opened("dream", layers=["block5c_add~9"])
    assert "gives block5c_add the weight `9`, which is not a number from 0 to 3" in warning_lines(at)


def test_changing_dream_controls_updates_the_link():
    at = page_opened("dream", **DREAM_LINK)
    at.slider(key="dream_steps").set_value(5)
    at.slider(key="dream_weight_efficientnet_lite0_block5c_add").set_value(1.5).run()  # its default weight
    assert at.query_params == {**DREAM_LINK, "steps": "5", "layers": ["block4c_add", "block5c_add"]}
    at.radio(key="dream_source").set_value("Sample photo").run()
    assert at.query_params["photo"] == "grace_hopper"


# --- the model picker ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def models_folder(tmp_path_factory):
    """A models folder with one small CNN, ``tiny``."""
    import keras
    folder = tmp_path_factory.mktemp("models")
    keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
                      keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, activation="softmax")],
                     name="tiny").save(folder / "tiny.keras")
    before = os.environ.get("VIZCORE_MODELS_DIR")
    os.environ["VIZCORE_MODELS_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("VIZCORE_MODELS_DIR", None)
    else:
        os.environ["VIZCORE_MODELS_DIR"] = before


def test_a_models_folder_model_is_linked_by_its_name(models_folder):
    at = page_opened(None, model="tiny")
    assert not at.warning, warning_lines(at)
    assert at.sidebar.selectbox(key="model_name").value == "folder:tiny" and at.metric[0].value == "tiny"
    assert at.query_params == {"model": "tiny"}
    at.sidebar.selectbox(key="model_name").set_value("Upload a model file").run()  # an upload cannot be linked
    assert at.query_params == {}


def test_a_link_to_an_unknown_model_opens_the_default_with_a_warning():
    at = page_opened(None, model="../../etc/passwd")
    assert "model `../../etc/passwd` is neither a model vizcore knows nor a file in your models folder" \
           in warning_lines(at)
    assert at.metric[0].value == "efficientnet_lite0" and at.query_params == {"model": "efficientnet_lite0"}


def test_model_links_name_folder_models_plainly_unless_a_registry_model_shares_the_name():
    from ui import sidebar
    assert sidebar.model_in_link("vgg16") == "vgg16" and sidebar.model_in_link("folder:pets") == "pets"
    assert sidebar.model_in_link("folder:vgg16") == "folder:vgg16"
    assert sidebar.model_in_link(sidebar.UPLOAD_MODEL) is None
    assert sidebar.model_from_link("efficientnet_lite2") == "efficientnet_lite2"


def test_heatmaps_opens_why_on_the_same_photo_and_class():
    at = page_opened("heatmaps", **HEATMAP_LINK)
    at.session_state["why_show_features"] = False  # the link is what is tested, not the feature pictures
    at.button(key="heat_why").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="why_class").value == 967
    assert at.selectbox(key="why_sample").value == "coffee"
