"""Objectives: each score against NumPy on the tiny model, the algebra, checks, and never retracing."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from vizcore import RequestError, ascent, filters, param, step_rules
from vizcore.models import SCALINGS
from vizcore.objectives import (channel, channel_interpolate, class_logit, deepdream, direction, diversity, l1, l2,
                                neuron, total_variation)

RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(0.2, 0.8, (3, 32, 32, 3)).astype(np.float32)  # RGB in [0, 1]


def scores(vm, objective, images=IMAGES):
    """The engine's scores of RGB images in [0, 1], untransformed (the Pixels parameterisation)."""
    objective = objective.checked(vm)
    climber = ascent.engine(vm, step_rules.Method(param.Pixels(), "l2"), objective)
    return climber.measure()(images * 2.0 - 1.0, objective.arguments()).numpy()


def activations(vm, layer, images=IMAGES):
    inputs = SCALINGS[vm.scaling].forward(images * 255.0)
    return np.asarray(vm.extractor([layer])(inputs))


def logits(vm, images=IMAGES):
    pooled = activations(vm, "conv_3", images).mean(axis=(1, 2))
    dense = vm.keras.get_layer("predictions")
    return pooled @ np.asarray(dense.kernel) + np.asarray(dense.bias)


# --- each score against NumPy --------------------------------------------------------------------


def test_channel_is_the_mean_of_one_channel_without_the_border(tiny_model):
    a = activations(tiny_model, "conv_1")
    np.testing.assert_allclose(scores(tiny_model, channel("conv_1", [1, 4, 5], border=2)),
                               [a[0, 2:-2, 2:-2, 1].mean(), a[1, 2:-2, 2:-2, 4].mean(), a[2, 2:-2, 2:-2, 5].mean()],
                               rtol=1e-5)
    np.testing.assert_allclose(scores(tiny_model, channel("conv_1", 3, border=0)), a[..., 3].mean(axis=(1, 2)),
                               rtol=1e-5)


def test_neuron_is_one_position_the_centre_by_default(tiny_model):
    a = activations(tiny_model, "conv_2")  # 16 × 16
    np.testing.assert_allclose(scores(tiny_model, neuron("conv_2", 7)), a[:, 8, 8, 7], rtol=1e-5)
    np.testing.assert_allclose(scores(tiny_model, neuron("conv_2", [0, 1, 2], x=3, y=[1, 2, 5])),
                               [a[0, 1, 3, 0], a[1, 2, 3, 1], a[2, 5, 3, 2]], rtol=1e-5)


def test_class_logit_is_the_pre_softmax_score(tiny_model):
    expected = logits(tiny_model)
    np.testing.assert_allclose(scores(tiny_model, class_logit([0, 3, 2])), expected[[0, 1, 2], [0, 3, 2]],
                               rtol=1e-4, atol=1e-5)
    probabilities = np.asarray(tiny_model.keras(IMAGES))  # the model still ends in its softmax: never mutated
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_direction_is_the_mean_dot_product_with_the_vector(tiny_model):
    vector = RNG.normal(size=8).astype(np.float32)
    a = activations(tiny_model, "conv_2")
    np.testing.assert_allclose(scores(tiny_model, direction("conv_2", vector)), (a @ vector).mean(axis=(1, 2)),
                               rtol=1e-4)


def test_deepdream_is_the_mean_square(tiny_model):
    a = activations(tiny_model, "conv_3")
    np.testing.assert_allclose(scores(tiny_model, deepdream("conv_3")), (a**2).mean(axis=(1, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(scores(tiny_model, deepdream("conv_3", border=2)),
                               (a[:, 2:-2, 2:-2] ** 2).mean(axis=(1, 2, 3)), rtol=1e-5)


def test_diversity_is_minus_the_mean_gram_cosine_to_the_others(tiny_model):
    a = activations(tiny_model, "conv_2")
    grams = np.stack([image.reshape(-1, 8).T @ image.reshape(-1, 8) for image in a]).reshape(3, -1)
    grams /= np.linalg.norm(grams, axis=1, keepdims=True)
    expected = [-sum(grams[i] @ grams[j] for j in range(3) if j != i) / 3 for i in range(3)]
    np.testing.assert_allclose(scores(tiny_model, diversity("conv_2")), expected, rtol=1e-4)
    # Lucid's penalty is the sum over the batch with the opposite sign
    lucid = sum(grams[i] @ grams[j] for i, j in itertools.permutations(range(3), 2)) / 3
    assert scores(tiny_model, diversity("conv_2")).sum() == pytest.approx(-lucid, rel=1e-4)
    assert scores(tiny_model, diversity("conv_2"), IMAGES[:1]) == pytest.approx([0.0])  # alone: nothing to differ from


def test_image_terms_read_the_rgb_image(tiny_model):
    expected_tv = (np.abs(np.diff(IMAGES, axis=2)).mean(axis=(1, 2, 3)) +
                   np.abs(np.diff(IMAGES, axis=1)).mean(axis=(1, 2, 3)))
    np.testing.assert_allclose(scores(tiny_model, total_variation()), expected_tv, rtol=1e-4)
    np.testing.assert_allclose(scores(tiny_model, l1(constant=0.5)), np.abs(IMAGES - 0.5).mean(axis=(1, 2, 3)),
                               rtol=1e-4)
    np.testing.assert_allclose(scores(tiny_model, l2()), np.sqrt((IMAGES**2).mean(axis=(1, 2, 3))), rtol=1e-4)
    a = activations(tiny_model, "conv_1")
    np.testing.assert_allclose(scores(tiny_model, l1("conv_1")), np.abs(a).mean(axis=(1, 2, 3)), rtol=1e-4)


def test_a_flat_image_has_no_total_variation_and_noise_has_some(tiny_model):
    flat = np.full((1, 32, 32, 3), 0.5, np.float32)
    assert scores(tiny_model, total_variation(), flat) == pytest.approx([0.0])
    assert scores(tiny_model, total_variation(), IMAGES[:1])[0] > 0.1


# --- the algebra ---------------------------------------------------------------------------------


def test_objectives_compose_like_numbers(tiny_model):
    a, b, c = channel("conv_1", 1), channel("conv_1", 4), class_logit(2)
    sa, sb, sc = (scores(tiny_model, objective) for objective in (a, b, c))
    np.testing.assert_allclose(scores(tiny_model, a + 0.5 * b - c), sa + 0.5 * sb - sc, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scores(tiny_model, -a), -sa, rtol=1e-5)
    np.testing.assert_allclose(scores(tiny_model, a * 3 / 2), 1.5 * sa, rtol=1e-5)
    with pytest.raises(TypeError):
        a + 1.0  # a constant moves no gradient: refused, not ignored
    with pytest.raises(TypeError):
        a * a


def test_structure_holds_kinds_and_layers_never_values():
    assert channel("conv_1", 1).structure == (2.0 * channel("conv_1", [5, 6])).structure
    assert class_logit(1).structure == (0.1 * class_logit(3)).structure
    assert channel("conv_1", 1).structure != channel("conv_2", 1).structure
    assert channel("conv_1", 1).structure != neuron("conv_1", 1).structure
    assert (channel("conv_1", 1) + class_logit(1)).structure != channel("conv_1", 1).structure


def test_interpolation_weighs_the_row_from_one_channel_to_the_other(tiny_model):
    row = channel_interpolate("conv_1", 1, "conv_1", 4, 5, border=0)
    a, b = scores(tiny_model, channel("conv_1", 1, border=0)), scores(tiny_model, channel("conv_1", 4, border=0))
    t = np.linspace(0, 1, 5)
    image = IMAGES[:1].repeat(5, axis=0)
    np.testing.assert_allclose(scores(tiny_model, row, image), (1 - t) * a[0] + t * b[0], rtol=1e-4)


# --- checks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("objective, words", [
    (channel("nope", 1), "nope"),
    (channel("conv_1", 6), "Channel 6 out of range"),
    (neuron("conv_2", 1, x=16), "x=16 is outside"),
    (class_logit(4), "Class 4 out of range"),
    (direction("conv_2", np.ones(3)), "3 values but layer conv_2 has 8"),
    (channel("conv_1", [0, 1]) + channel("conv_1", [0, 1, 2]), "different numbers of images"),
])
def test_bad_objectives_are_refused_in_words(tiny_model, objective, words):
    with pytest.raises(RequestError, match=words):
        objective.checked(tiny_model)


def test_bad_values_are_refused_when_built():
    with pytest.raises(RequestError, match="whole numbers"):
        channel("conv_1", 1.5)
    with pytest.raises(RequestError, match="finite"):
        direction("conv_1", [1.0, float("nan")])
    with pytest.raises(RequestError, match="at least 2"):
        channel_interpolate("a", 0, "a", 1, 1)


# --- never retracing -------------------------------------------------------------------------------


def run(vm, objective, count, mode="classic"):
    return list(filters.visualize_objective(vm, objective, count=count, steps=2, size=40 if mode == "robust" else 66,
                                            mode=mode, seed=0))[-1]


@pytest.mark.parametrize("mode", ["classic", "robust"])
def test_another_channel_class_or_weight_reuses_the_compiled_step(tiny_model, mode):
    border = filters.channel_border(mode)
    first = channel("conv_2", [0, 1], border=border) + 0.5 * class_logit([1, 2])
    run(tiny_model, first, 2, mode)
    climber = ascent.engine(tiny_model, step_rules.method_for(tiny_model, filters.settings(tiny_model, mode)),
                            first.checked(tiny_model))
    compiled = [climber.step(), climber.measure()]
    counts = [function.experimental_get_tracing_count() for function in compiled]
    assert counts == [1, 1]
    for objective, count in [(channel("conv_2", [5, 7, 3], border=border) + 2.0 * class_logit([0, 3, 3]), 3),
                             (channel("conv_2", 4, border=border) - 0.1 * class_logit(0), 1),
                             (channel("conv_2", [6], border=border) + class_logit([1]), 4)]:
        assert objective.structure == first.structure
        run(tiny_model, objective, count, mode)
    assert [function.experimental_get_tracing_count() for function in compiled] == counts


def test_another_layer_is_another_compiled_step(tiny_model):
    run(tiny_model, channel("conv_1", [0]), 1)
    one = ascent.engine(tiny_model, step_rules.classic(66), channel("conv_1", [0]).checked(tiny_model)).step()
    other = ascent.engine(tiny_model, step_rules.classic(66), channel("conv_3", [0]).checked(tiny_model)).step()
    assert one is not other


def test_scores_and_steps_agree_with_the_objective(tiny_model):
    """The history the loop records is the objective the step climbed (classic: untransformed)."""
    objective = channel("conv_3", [2, 5]) + 0.3 * total_variation()
    frame = list(filters.visualize_objective(tiny_model, objective, steps=3, size=66, seed=4))[-1]
    assert frame.history.shape == (3, 2)
    assert frame.initial == pytest.approx(frame.history[0])
    assert np.all(frame.activations > frame.initial)

