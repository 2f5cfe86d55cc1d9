"""How far to trust a map: deletion, insertion and ROAD against plain NumPy, the sanity check (Grad-CAM
passes, an edge detector fails, the model is never touched), the ranking, the CLI and the page."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageFilter

from vizcore import cam
from vizcore.cam import metrics, sanity
from vizcore.errors import RequestError

from conftest import ROOT

GRID = metrics.FAITHFULNESS_GRID


def photo(height=40, width=52, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def probabilities(vm, images, class_index) -> np.ndarray:
    """The tiny model's own softmax output, read straight from Keras (no vizcore view)."""
    inputs = np.asarray(images, np.float32) / 255.0  # the tiny model's "unit" scaling
    return np.asarray(vm.keras(inputs, training=False))[:, class_index].astype(np.float64)


def auc(xs, ys) -> float:
    return float(sum((ys[i] + ys[i + 1]) / 2 * (xs[i + 1] - xs[i]) for i in range(len(xs) - 1)))


# --- deletion, insertion, ROAD against a plain NumPy reference ------------------------------------

def reference_curve(vm, image, heat, class_index, steps, insert):
    """Petsiuk et al.'s deletion / insertion on the GRID² patches, written out from the definition."""
    small = vm.resize_for_input(image)
    blurred = np.asarray(Image.fromarray(small).filter(ImageFilter.GaussianBlur(metrics.FAITHFULNESS_BLUR * 32)))
    patch = (np.arange(32) * GRID // 32)[:, None] * GRID + (np.arange(32) * GRID // 32)[None, :]
    order = np.argsort(-heat.ravel(), kind="stable")  # heat is on the GRID² grid already
    fractions = np.linspace(0, 1, steps + 1)
    images = []
    for fraction in fractions:
        chosen = np.isin(patch, order[: round(fraction * GRID * GRID)])[..., None]
        images.append(np.where(chosen, small, blurred) if insert else np.where(chosen, blurred, small))
    scores = probabilities(vm, images, class_index)
    return scores, auc(fractions, scores)


@pytest.mark.parametrize("insert", [False, True])
def test_deletion_and_insertion_match_a_numpy_reference(tiny_model, insert):
    image, heat = photo(), np.random.default_rng(1).random((GRID, GRID)).astype(np.float32)
    scores, area = reference_curve(tiny_model, image, heat, 2, 5, insert)
    given = cam.given_map(tiny_model, image, heat, 2)
    curve = (cam.insertion if insert else cam.deletion)(tiny_model, given, steps=5)
    np.testing.assert_allclose(curve.scores, scores, atol=1e-5)
    assert curve.fractions == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0]) and curve.auc == pytest.approx(area, abs=1e-5)
    both = cam.trust_metrics(tiny_model, given, steps=5)  # the same numbers from the one batched run
    assert (both.insertion if insert else both.deletion).auc == pytest.approx(area, abs=1e-5)


def exact_imputation(image: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """Each removed pixel the 1/6 (beside), 1/12 (diagonal) weighted mean of its neighbours in the photo,
    solved as one dense linear system (Rong et al., 2022, Eq. 3), pixel by pixel in a loop."""
    height, width = removed.shape
    unknown = {(y, x): i for i, (y, x) in enumerate(zip(*np.nonzero(removed)))}
    system, right = np.zeros((len(unknown), len(unknown))), np.zeros((len(unknown), 3))
    for (y, x), i in unknown.items():
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                ny, nx = y + dy, x + dx
                if (dy, dx) == (0, 0) or not (0 <= ny < height and 0 <= nx < width):
                    continue
                weight = 1 / 12 if dy and dx else 1 / 6
                system[i, i] += weight
                if (ny, nx) in unknown:
                    system[i, unknown[ny, nx]] -= weight
                else:
                    right[i] += weight * image[ny, nx]
    filled = image.astype(np.float64).copy()
    filled[removed] = np.linalg.solve(system, right)
    return filled


@pytest.mark.parametrize("side, tolerance", [(16, 1e-3), (40, 2.0)])  # exact below 16², coarse-to-fine CG above
def test_the_imputer_solves_roads_linear_system(side, tolerance):
    image = np.asarray(Image.fromarray(photo(side, side)).filter(ImageFilter.GaussianBlur(2)), np.float64)
    removed = np.random.default_rng(2).random((side, side)) < 0.6
    removed[side // 4 : side // 2, side // 4 : 3 * side // 4] = True  # a big hole, too
    filled = metrics.noisy_linear_imputation(image, removed[None], noise=0.0)[0]
    assert np.abs(filled - exact_imputation(image, removed))[removed].mean() < tolerance
    noisy = metrics.noisy_linear_imputation(image, removed[None], noise=5.0)[0]
    np.testing.assert_allclose(noisy[~removed], image[~removed], atol=1e-4)  # noise only where imputed
    assert 3.0 < np.std((noisy - filled)[removed]) < 7.0


def test_road_matches_a_numpy_reference(tiny_model):
    image, class_index = photo(32, 32, seed=3), 1  # at the model's size: no resizing
    heat = np.random.default_rng(4).random((32, 32)).astype(np.float32)
    order = np.argsort(-heat.ravel(), kind="stable")
    percentiles = (20, 50, 80)
    images = [image]
    for first in (order, order[::-1]):  # most relevant first, then least
        for percentile in percentiles:
            removed = np.zeros(32 * 32, bool)
            removed[first[: round(percentile / 100 * removed.size)]] = True
            images.append(exact_imputation(image, removed.reshape(32, 32)))
    scores = probabilities(tiny_model, images, class_index)
    morf, lerf = scores[1:4] - scores[0], scores[4:] - scores[0]
    road = cam.road(tiny_model, cam.given_map(tiny_model, image, heat, class_index), percentiles=percentiles, noise=0.0)
    np.testing.assert_allclose(road.morf, morf, atol=2e-3)
    np.testing.assert_allclose(road.lerf, lerf, atol=2e-3)
    assert road.combined == pytest.approx((lerf.mean() - morf.mean()) / 2, abs=2e-3)
    assert road.probability == pytest.approx(scores[0], abs=1e-5)


@pytest.mark.parametrize("call, kwargs, message", [
    (cam.road, {"percentiles": (0, 50)}, "ROAD percentiles must lie strictly between 0 and 100"),
    (cam.road, {"noise": -1.0}, "ROAD noise must be 0 or more"),
    (cam.deletion, {"steps": 0}, "steps must be at least 1"),
    (cam.insertion, {"class_index": None}, "A given map needs the class it explains"),
    (cam.trust_metrics, {"result": np.ones((4, 4), np.float32)}, "A trust metric takes the CamResult of a map"),
])
def test_metrics_refuse_bad_arguments(tiny_model, call, kwargs, message):
    arguments = {"class_index": 1, **kwargs}
    class_index, bare = arguments.pop("class_index"), arguments.pop("result", None)
    with pytest.raises(RequestError, match=message):
        given = bare if bare is not None else cam.given_map(tiny_model, photo(), np.ones((4, 4), np.float32), class_index)
        call(tiny_model, given, **arguments)


# --- the sanity check ----------------------------------------------------------------------------

def test_spearman_and_ssim():
    values = np.random.default_rng(5).random((30, 30))
    assert sanity.spearman(values, np.exp(values)) == pytest.approx(1.0)
    assert sanity.spearman(values, -values) == pytest.approx(-1.0)
    assert sanity.spearman(values, np.zeros_like(values)) == 0.0  # a flat map: no order to keep
    ties = np.array([1.0, 2.0, 2.0, 3.0])
    assert sanity.spearman(ties, np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(np.corrcoef([1, 2.5, 2.5, 4],
                                                                                              [1, 2, 3, 4])[0, 1])
    assert sanity.ssim(values, values) == pytest.approx(1.0)
    noisy = np.clip(values + np.random.default_rng(6).normal(0, 0.2, values.shape), 0, 1)
    assert 0.0 < sanity.ssim(values, noisy) < sanity.ssim(values, (values + noisy) / 2) < 1.0
    stats = pytest.importorskip("scipy.stats")  # a reference where scipy happens to be installed
    assert sanity.spearman(values, noisy) == pytest.approx(stats.spearmanr(values.ravel(), noisy.ravel())[0])


def test_lite0_stages_go_from_the_output_back(lite0):
    stages = cam.weight_stages(lite0)
    assert stages[0] == ("predictions",) and stages[1] == ("top_conv", "top_bn")
    assert stages[2][0] == "block7a_expand_conv" and all(name.startswith("block7") for name in stages[2])
    assert all(name.startswith("block6") for name in stages[3])


def test_grad_cam_passes_and_the_cached_model_is_untouched(lite0, grace_hopper):
    before = [weight.tobytes() for weight in lite0.keras.get_weights()]
    report = cam.sanity_check(lite0, cam.cam_request(lite0, grace_hopper, method="gradcam"))
    assert [stage.randomised_from for stage in report.stages] == ["predictions", "top_conv", "block7a_expand_conv"]
    assert report.stages[-1].spearman < 0.5 and report.passed and report.verdict.startswith("Passed")
    assert report.outcome == sanity.PASSED and not any(stage.uniform for stage in report.stages)
    assert all(stage.heatmap.shape == grace_hopper.shape[:2] for stage in report.stages)
    assert report.class_check is not None and report.class_check.class_index != report.class_index == 652
    assert [weight.tobytes() for weight in lite0.keras.get_weights()] == before  # byte for byte
    again = cam.sanity_check(lite0, cam.cam_request(lite0, grace_hopper, method="gradcam"))  # the copy is reset: the same stages
    assert [s.spearman for s in again.stages] == pytest.approx([s.spearman for s in report.stages], abs=1e-6)


def edges(vm, image, class_index) -> np.ndarray:
    """A "map" that ignores the model: the photo's edges (Sobel magnitude of its grey levels)."""
    grey = np.asarray(Image.fromarray(image).convert("L"), np.float32)
    gy, gx = np.gradient(grey)
    return np.hypot(gx, gy)


def test_an_edge_detector_fails_the_sanity_check(lite0, grace_hopper):
    report = cam.sanity_check(lite0, cam.cam_request(lite0, grace_hopper), explainer=edges)
    assert all(stage.spearman > 0.99 and stage.ssim > 0.99 for stage in report.stages)
    assert not report.passed and report.verdict.startswith("Failed") and "barely changes" in report.verdict
    assert report.outcome == sanity.FAILED
    assert report.class_check.depends_on_class is False


def test_uniform_maps():
    values = np.random.default_rng(8).random((7, 7))
    assert not sanity.is_uniform(values) and not sanity.is_uniform(values * 1e-9)  # tiny raw gradients have an order
    assert sanity.is_uniform(np.zeros((7, 7))) and sanity.is_uniform(np.full((7, 7), 5.0))
    assert sanity.is_uniform(np.full((7, 7), 5.0) + values * 1e-9)  # rounding noise on a flat map: no order
    assert sanity.is_uniform(np.where(values > 0.5, np.nan, values)) and sanity.is_uniform(np.zeros((0, 0)))


def blank_at_call(blank: int):
    """An explainer that makes the photo's edges, except on its ``blank``-th call (1: the original map, 2: the
    first stage's, ...), where the map is all zeros, as Grad-CAM's is when no pixel raises the class."""
    calls = []

    def explain(vm, image, class_index) -> np.ndarray:
        calls.append(class_index)
        return np.zeros(image.shape[:2], np.float32) if len(calls) == blank else edges(vm, image, class_index)

    return explain


def test_a_map_that_goes_uniform_at_a_stage_is_inconclusive(tiny_model):
    report = cam.sanity_check(tiny_model, cam.cam_request(tiny_model, photo(), class_index=1), stages=2, explainer=blank_at_call(3))
    first, second = report.stages  # from predictions up, then from conv_3 up: the second one is blank
    assert not first.uniform and first.spearman > 0.99  # the edges would fail the check on their own
    assert second.uniform and np.isnan(second.spearman)
    assert report.outcome == sanity.INCONCLUSIVE and not report.passed
    assert report.verdict.startswith("Inconclusive: with the weights from conv_3 to the output randomised")
    assert "uniform" in report.verdict and "undefined" in report.verdict and "predictions" not in report.verdict
    assert report.class_check.depends_on_class is False  # the class check's maps are both edges: comparable


def test_a_uniform_original_map_is_inconclusive(tiny_model):
    report = cam.sanity_check(tiny_model, cam.cam_request(tiny_model, photo(), class_index=1), stages=2, explainer=blank_at_call(1))
    assert report.outcome == sanity.INCONCLUSIVE and not report.passed
    assert report.verdict.startswith("Inconclusive: the map on the model as trained is uniform")
    assert all(np.isnan(stage.spearman) and not stage.uniform for stage in report.stages)  # nothing to rank against
    assert report.class_check.depends_on_class is None and np.isnan(report.class_check.spearman)


# --- the ranking ---------------------------------------------------------------------------------

def test_a_good_map_outranks_a_random_one(lite0, samples):
    coffee = samples["coffee"]  # one clear object: an espresso
    good = cam.heatmap(lite0, coffee, method="gradcam", layer="top_relu")
    noise = np.random.default_rng(7).random((7, 7)).astype(np.float32)
    scores = {}
    for name, heat in [("grad-cam", good), ("random", noise)]:
        given = heat if isinstance(heat, cam.CamResult) else cam.given_map(lite0, coffee, heat, good.class_index)
        trust = cam.trust_metrics(lite0, given)
        scores[name] = cam.RankedMap(name, "top_relu", trust.road.combined, trust.insertion.auc,
                                     trust.deletion.auc, good)
    assert [item.method for item in cam.ranked(scores.values())] == ["grad-cam", "random"]
    assert scores["grad-cam"].road > scores["random"].road
    assert scores["grad-cam"].insertion - scores["grad-cam"].deletion > scores["random"].insertion - scores[
        "random"].deletion


def test_rank_maps_scores_every_method_on_each_layer_best_first(tiny_model):
    ranking = cam.rank_maps(tiny_model, cam.cam_request(tiny_model, photo(), class_index=3))
    assert sorted((item.method, item.layer) for item in ranking) == sorted(
        (method, layer) for method in cam.METHODS for layer in cam.ranking_layers(tiny_model))
    assert [item.score for item in ranking] == sorted((item.score for item in ranking), reverse=True)
    assert all(item.result.class_index == 3 for item in ranking)


# --- the CLI -------------------------------------------------------------------------------------

def test_cli_adds_metrics_sanity_and_ranking(tiny_model, tmp_path, capsys):
    from vizcore.cli import main
    model, image = tmp_path / "tiny.keras", tmp_path / "photo.png"
    tiny_model.keras.save(model)
    Image.fromarray(photo()).save(image)
    code = main(["cam", str(model), str(image), "--scaling", "0-1", "--class", "2", "--metrics", "--sanity",
                 "--stages", "2", "--rank", "--json", "--out", str(tmp_path / "o.png")])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["metrics"]) == {"deletion", "insertion", "road"}
    assert all(isinstance(value, float) for value in report["metrics"].values())
    assert [stage["randomised_from"] for stage in report["sanity"]["stages"]] == ["predictions", "conv_3"]
    assert set(report["sanity"]["stages"][0]) == {"randomised_from", "spearman", "ssim", "uniform"}
    assert isinstance(report["sanity"]["passed"], bool) and report["sanity"]["verdict"]
    assert report["sanity"]["outcome"] in {sanity.PASSED, sanity.FAILED, sanity.INCONCLUSIVE}
    ranking = report["ranking"]
    assert len(ranking) == len(cam.METHODS) * len(cam.ranking_layers(tiny_model))
    assert set(ranking[0]) == {"method", "layer", "road", "insertion", "deletion"}
    scores = [row["road"] + row["insertion"] - row["deletion"] for row in ranking]
    assert scores == sorted(scores, reverse=True)


def test_cli_says_when_the_sanity_check_is_inconclusive(tiny_model, tmp_path, capsys, monkeypatch):
    from vizcore.cli import main
    model, image = tmp_path / "tiny.keras", tmp_path / "photo.png"
    tiny_model.keras.save(model)
    Image.fromarray(photo()).save(image)
    monkeypatch.setattr(sanity, "cam_explainer", lambda *settings: blank_at_call(2))  # the first stage: blank
    arguments = ["cam", str(model), str(image), "--scaling", "0-1", "--class", "2", "--sanity", "--stages", "2",
                 "--out", str(tmp_path / "o.png")]
    assert main([*arguments, "--json"]) == 0
    out = capsys.readouterr().out
    assert "NaN" not in out  # strict JSON: an undefined correlation is null
    report = json.loads(out)["sanity"]
    assert report["outcome"] == "inconclusive" and report["passed"] is False
    assert report["stages"][0]["spearman"] is None and report["stages"][0]["uniform"] is True
    assert report["verdict"].startswith("Inconclusive: with the weights from predictions")
    assert main(arguments) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("randomised from predictions: uniform map, Spearman undefined, SSIM") for line in lines)
    assert any(line.startswith("Inconclusive: ") for line in lines)


@pytest.mark.parametrize("drop, words", [
    (0.25, "lowers the probability by 25%"), (-0.3, "raises it by 30%"),
    (-0.004, "barely changes the probability"), (-0.0, "barely changes the probability"),
])
def test_cli_faithfulness_words_never_read_minus_zero(drop, words):
    from vizcore.commands import cam as command
    assert command._change(drop) == words


@pytest.mark.parametrize("arguments, message", [
    (["--sanity", "--stages", "0"], "--stages must be at least 1"),
    (["--sanity", "--stages", "99"], "stages must be between 1 and"),
])
def test_cli_bad_trust_input_is_one_line_and_exit_2(tiny_model, tmp_path, capsys, arguments, message):
    from vizcore.cli import main
    model, image = tmp_path / "tiny.keras", tmp_path / "photo.png"
    tiny_model.keras.save(model)
    Image.fromarray(photo()).save(image)
    assert main(["cam", str(model), str(image), "--out", str(tmp_path / "o.png"), *arguments]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


# --- the Heatmaps page ---------------------------------------------------------------------------

@pytest.fixture
def page():
    import streamlit as st
    from streamlit.testing.v1 import AppTest
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.run()
    return at.switch_page("pages/heatmaps.py").run()


def test_page_shows_the_metrics_and_runs_the_sanity_check(page):
    assert not page.exception, page.exception
    assert [m.label for m in page.metric][:4] == ["Faithfulness", "Deletion AUC ↓", "Insertion AUC ↑", "ROAD ↑"]
    assert float(page.metric[3].value) > 0  # Grad-CAM on Grace Hopper beats its reversed map
    assert [tab.label for tab in page.tabs] == ["Sanity check", "Best method and layer"]
    page.button(key="heat_sanity").click().run()
    assert not page.exception and not page.error, (page.exception, page.error)
    captions = [caption for image in page.get("image") for caption in image.captions]
    assert "Random from predictions up" in captions and "Random from block7a_expand_conv up" in captions
    assert page.success and page.success[0].value.startswith("Passed")
    page.selectbox(key="heat_cmap").set_value("inferno").run()  # a redraw keeps the check on screen
    assert page.success and page.success[0].value.startswith("Passed")
    assert not [info for info in page.info if "almost no confidence" in info.value]  # top-1 at 46 %: no warning


def test_page_says_when_the_class_has_almost_no_confidence_to_explain(page):
    page.selectbox(key="heat_class").set_value(417).run()  # balloon, on Grace Hopper: about 0.0 %
    assert not page.exception and not page.error, (page.exception, page.error)
    notes = [info.value for info in page.info if "almost no confidence" in info.value]
    assert len(notes) == 1 and notes[0].startswith("The model gives balloon only 0.0%")
    assert [m.label for m in page.metric][:4] == ["Faithfulness", "Deletion AUC ↓", "Insertion AUC ↑", "ROAD ↑"]


def test_page_ranks_methods_and_layers_then_uses_the_best(page, monkeypatch):
    from vizcore.cam import metrics
    every_layer = metrics.ranking_layers
    monkeypatch.setattr(metrics, "ranking_layers", lambda vm: every_layer(vm)[-1:])  # the last stage: quicker
    monkeypatch.setattr(cam, "ranking_layers", metrics.ranking_layers)
    page.button(key="heat_rank_maps").click().run()
    assert not page.exception and not page.error, (page.exception, page.error)
    table = page.dataframe[-1].value
    assert len(table) == len(cam.METHODS) and list(table["score"]) == sorted(table["score"], reverse=True)
    assert all(str(thumbnail).startswith("data:image/png;base64,") for thumbnail in table["map"])
    assert not any("stopped" in caption.value for caption in page.caption)
    ranking = page.session_state["heat_map_ranking"]
    page.session_state["heat_map_ranking"] = {**ranking, "rows": ranking["rows"][:3]}  # as Stop leaves it after 3 maps
    page.run()
    assert any("stopped" in caption.value and f"after 3 of {len(cam.METHODS)} maps" in caption.value for caption in page.caption)
    assert len(page.dataframe[-1].value) == 3
    page.session_state["heat_map_ranking"] = ranking
    page.run()
    page.button(key="heat_use_best_map").click().run()
    assert not page.exception
    best_method = next(name for name, m in cam.METHODS.items() if m.title == table["method"][0])
    assert page.selectbox(key="heat_method").value == best_method
    assert page.selectbox(key="heat_layer").value == table["layer"][0]
