"""MaCo (Fel et al., 2023): a fixed natural magnitude, the phase optimised, random crops, transparency."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import test_steps as capped_steps
from PIL import Image

from vizcore import filters, objectives, param, spectrum, step_rules, transforms, transparency
from vizcore.errors import RequestError

SIDE = 32


def interior(array: np.ndarray) -> np.ndarray:
    """The rfft2 columns that need no Hermitian symmetry: all but the first and the last (even width)."""
    return array[..., 1:-1]


def decorrelated_spectrum(images: np.ndarray) -> np.ndarray:
    """|rfft2| (N, 3, H, W // 2 + 1) of RGB images in (0, 1), taken back through the sigmoid and the colours."""
    logits = np.log(images) - np.log1p(-images)
    decorrelated = logits @ np.linalg.inv(param.COLOR_CORRELATION.T)
    return np.abs(np.fft.rfft2(np.transpose(decorrelated, (0, 3, 1, 2))))


def relative_spread(measured: np.ndarray, target: np.ndarray, up_to: float | None = None) -> float:
    """How far measured / target is from one constant (0: proportional), at the interior columns, skipping
    f = 0, and (``up_to``) above that many cycles per picture."""
    side = target.shape[1]
    f = spectrum.frequencies(side)
    keep = (f > 0) & (f <= (up_to or side))
    keep[:, 0] = keep[:, -1] = False  # the columns that need Hermitian symmetry
    ratio = (measured / target)[:, keep]
    return float(np.std(ratio) / np.mean(ratio))


def target_magnitude(side: int = SIDE) -> np.ndarray:
    rng = np.random.default_rng(3)
    return (rng.uniform(0.5, 2.0, (3, side, side // 2 + 1)) / np.maximum(spectrum.frequencies(side), 1)).astype(
        np.float32
    )


def test_a_maco_image_keeps_its_magnitude_exactly_whatever_the_phase():
    magnitude = target_magnitude()
    phase = tf.random.stateless_normal([2, 3, SIDE, SIDE // 2 + 1], [0, 1]) * 3.0
    spatial = param.maco_spatial(phase, tf.constant(magnitude)).numpy()  # (N, H, W, 3)
    measured = np.abs(np.fft.rfft2(np.transpose(spatial, (0, 3, 1, 2))))
    for image in measured:
        assert relative_spread(image, magnitude) < 1e-3
    rgb = param.maco_rgb(phase, tf.constant(magnitude)).numpy()  # the image: a pixelwise function of it
    expected = 1 / (1 + np.exp(-param.MACO_CONTRAST * spatial @ param.COLOR_CORRELATION.T))
    np.testing.assert_allclose(rgb, expected, atol=1e-5)


def test_a_finished_maco_picture_has_the_natural_spectrum_and_a_fourier_one_has_not(tiny_model):
    request = filters.filter_request(
        tiny_model, "filters", "conv_3", [0, 1], mode="maco", steps=capped_steps(12), seed=0
    )
    frame = list(filters.run(tiny_model, request))[-1]
    magnitude = step_rules.maco(tiny_model, SIDE).parameterisation.magnitude.numpy()
    maco_pictures = (frame.images.astype(np.float64) + 0.5) / 256  # uint8 → the middle of its bin
    low = SIDE / 5  # cycles per picture: above, the rounding to uint8 swamps the faint high frequencies
    spread = [relative_spread(s, magnitude, low) for s in decorrelated_spectrum(maco_pictures)]
    robust = filters.filter_request(
        tiny_model, "filters", "conv_3", [0, 1], mode="robust", steps=capped_steps(12), seed=0
    )
    fourier_pictures = (list(filters.run(tiny_model, robust))[-1].images.astype(np.float64) + 0.5) / 256
    fourier_spread = [relative_spread(s, magnitude, low) for s in decorrelated_spectrum(fourier_pictures)]
    assert max(spread) < 0.2  # up to the rounding to uint8 and the sigmoid's saturation
    assert min(fourier_spread) > 2 * max(spread)


def test_maco_raises_a_class_score_and_gives_a_non_negative_transparency_map(tiny_model):
    request = filters.filter_request(tiny_model, "classes", "", [2], mode="maco", steps=capped_steps(24), seed=1)
    frame = list(filters.run(tiny_model, request))[-1]
    assert frame.images.shape == (1, SIDE, SIDE, 3)
    assert frame.activations[0] > frame.initial[0]
    assert frame.transparency.shape == (1, SIDE, SIDE)
    assert frame.transparency.min() >= 0 and frame.transparency.max() > 0


def test_the_transparency_map_is_largest_where_the_objective_has_its_gradient(tiny_model):
    """A neuron near the crops' top-left corner: the gradient falls on the picture's top-left, never bottom-right."""
    request = filters.filter_request(
        tiny_model, "neurons", "conv_1", [0, 1], mode="maco", x=2, y=2, steps=capped_steps(16), seed=0
    )
    transparency = list(filters.run(tiny_model, request))[-1].transparency
    half = SIDE // 2
    top_left, bottom_right = transparency[:, :half, :half].sum(), transparency[:, half:, half:].sum()
    assert top_left > 20 * max(bottom_right, 1e-12)
    assert transparency.min() >= 0


@pytest.mark.parametrize(
    "show, layer, indices, options",
    [
        ("filters", "conv_2", [0, 3], {}),
        ("neurons", "conv_2", [1], {}),
        ("classes", "", [0, 3], {}),
        ("diverse", "conv_3", [2], {"count": 2}),
        ("mix", "conv_3", [0, 1], {"count": 3}),
    ],
)
def test_every_request_climbs_with_maco(tiny_model, show, layer, indices, options):
    request = filters.filter_request(tiny_model, show, layer, indices, mode="maco", steps=3, seed=0, **options)
    frame = list(filters.run(tiny_model, request))[-1]
    assert frame.images.shape[1:] == (SIDE, SIDE, 3) and np.isfinite(frame.activations).all()
    assert frame.transparency.shape == frame.images.shape[:3]


def test_an_expression_climbs_with_maco(tiny_model):
    objective = objectives.channel("conv_2", 1) - 0.5 * objectives.class_logit(2)
    frame = list(filters.visualize_objective(tiny_model, objective, mode="maco", steps=3, seed=0, count=2))[-1]
    assert frame.images.shape == (2, SIDE, SIDE, 3) and frame.transparency is not None


def test_other_modes_have_no_transparency(tiny_model):
    frame = list(filters.visualize(tiny_model, "conv_2", [0], mode="robust", steps=2, seed=0))[-1]
    assert frame.transparency is None


def test_a_missing_photo_folder_is_refused_at_the_door(tiny_model, tmp_path):
    with pytest.raises(RequestError, match="No folder"):
        filters.filter_request(tiny_model, "filters", "conv_2", [0], mode="maco", photos=str(tmp_path / "none"))
    robust = filters.filter_request(tiny_model, "filters", "conv_2", [0], mode="robust", photos=str(tmp_path / "x"))
    assert robust.photos is None  # only maco reads photos


def test_maco_defaults_leave_robust_as_it_was(lite0):
    assert filters.settings(lite0, "robust")[:4] == ("robust", filters.ROBUST_STEPS, filters.ROBUST_LR, 128)
    assert filters.settings(lite0, "maco")[:4] == ("maco", filters.MACO_STEPS, filters.MACO_LR, 128)


# --- the crops ----------------------------------------------------------------------------------


def test_random_crops_cut_the_same_crop_of_every_image_and_another_each_step():
    images = tf.random.stateless_uniform([1, 40, 40, 3], [0, 2])
    crop = transforms.random_crops(24, 0.5, 0.9, 0.0)
    out = crop(tf.concat([images] * 3, axis=0), transforms.step_seed(1, 1)).numpy()
    assert out.shape == (3, 24, 24, 3)
    np.testing.assert_allclose(out[0], out[2], atol=1e-6)  # a chunk of the batch changes nothing
    np.testing.assert_array_equal(out, crop(tf.concat([images] * 3, axis=0), transforms.step_seed(1, 1)).numpy())
    assert not np.allclose(out[:1], crop(images, transforms.step_seed(1, 2)).numpy())  # another step, another crop


def test_a_whole_picture_crop_at_its_own_side_is_the_picture():
    images = tf.random.stateless_uniform([2, 32, 32, 3], [0, 3])
    out = transforms.random_crops(32, 1.0, 1.0, 0.0)(images, transforms.step_seed(0, 1)).numpy()
    np.testing.assert_allclose(out, images.numpy(), atol=1e-5)


def test_a_crop_of_half_the_picture_at_a_quarter_of_its_side_steps_two_pixels_a_pixel():
    ramp = np.broadcast_to(np.arange(40, dtype=np.float32)[None, :, None], (40, 40, 3))  # value = column
    out = transforms.random_crops(10, 0.5, 0.5, 0.0)(tf.constant(ramp[None]), transforms.step_seed(0, 9)).numpy()[0]
    np.testing.assert_allclose(np.diff(out[..., 0], axis=1), 2.0, atol=1e-4)  # 20 px of picture in 10
    assert 0 <= out.min() and out.max() <= 39


def test_random_crops_add_noise_of_the_asked_size():
    images = tf.fill([4, 32, 32, 3], 0.5)
    out = transforms.random_crops(32, 1.0, 1.0, 0.1)(images, transforms.step_seed(0, 5)).numpy()
    assert abs(float(np.std(out - 0.5)) - 0.1) < 0.01


@pytest.mark.parametrize(
    "side, smallest, largest, noise",
    [(0, 0.5, 1, 0), (8, 0, 1, 0), (8, 0.9, 0.5, 0), (8, 0.5, 1.2, 0), (8, 0.5, 1, -1)],
)
def test_random_crops_refuse_bad_arguments(side, smallest, largest, noise):
    with pytest.raises(ValueError):
        transforms.random_crops(side, smallest, largest, noise)


def test_crop_shares_follow_the_paper_for_big_pictures_and_vary_at_the_models_size():
    assert step_rules.crop_shares(224, 1280) == pytest.approx((1.1 * 224 / 1280, 1.4 * 224 / 1280))
    assert step_rules.crop_shares(224, 224) == (step_rules.MACO_SMALLEST_CROP, 1.0)


# --- the spectrum -------------------------------------------------------------------------------


def grating(side: int, fy: int, fx: int, phase: float, contrast: float) -> np.ndarray:
    y, x = np.mgrid[:side, :side]
    grey = 0.5 + contrast * np.cos(2 * np.pi * (fy * y + fx * x) / side + phase)
    return np.repeat(grey[..., None], 3, axis=-1)


def write_photos(folder, photos) -> list:
    folder.mkdir(exist_ok=True)
    files = []
    for number, photo in enumerate(photos):
        files.append(folder / f"photo_{number:02d}.png")
        Image.fromarray(np.round(photo * 255).astype(np.uint8)).save(files[-1])
    return files


def test_a_folder_of_gratings_gives_their_spectrum(tmp_path):
    """Grey gratings at (3, 5) cycles: all the magnitude there, as much as the hand-computed amount."""
    rng = np.random.default_rng(0)
    photos = [grating(SIDE, 3, 5, rng.uniform(0, 2 * np.pi), 0.3) for _ in range(spectrum.MIN_PHOTOS)]
    found = spectrum.natural_spectrum(write_photos(tmp_path / "gratings", photos), SIDE)
    assert not found.fitted and found.photos == spectrum.MIN_PHOTOS
    grey_in_basis = np.ones(3) @ np.linalg.inv(param.COLOR_CORRELATION.T)  # a grey level's decorrelated colours
    expected = 0.3 * SIDE * SIDE / 2 * np.abs(grey_in_basis)
    np.testing.assert_allclose(found.magnitude[:, 3, 5], expected, rtol=0.02)
    elsewhere = found.magnitude.copy()
    elsewhere[:, 3, 5] = 0
    assert elsewhere.max() < 0.03 * expected.max()


def power_law_photo(side: int, decay: float, seed: int) -> np.ndarray:
    """A grey photo whose magnitude is exactly 1 / f^decay, with a random phase, around mid-grey."""
    rng = np.random.default_rng(seed)
    magnitude = 1 / np.maximum(spectrum.frequencies(side), 1) ** decay
    grey = np.fft.irfft2(magnitude * np.exp(2j * np.pi * rng.uniform(size=magnitude.shape)), s=(side, side))
    grey = 0.5 + 0.2 * grey / np.abs(grey).max()
    return np.repeat(grey[..., None], 3, axis=-1)


def test_too_few_photos_give_a_smooth_power_law_of_their_decay(tmp_path):
    side = 64
    photos = [power_law_photo(side, 1.5, seed) for seed in range(3)]
    found = spectrum.natural_spectrum(write_photos(tmp_path / "few", photos), side)
    assert found.fitted and found.photos == 3
    f = spectrum.frequencies(side)
    for channel in found.magnitude:  # a function of |f| alone, never increasing with it
        order = np.argsort(f, axis=None)
        assert np.all(np.diff(channel.ravel()[order]) <= 1e-6 * channel.max())
    assert found.magnitude[0, 0, 2] / found.magnitude[0, 0, 8] == pytest.approx(4**1.5, rel=0.15)
    assert spectrum.natural_spectrum([], side).magnitude[0, 0, 4] == pytest.approx(1 / 4)  # no photo: 1/f


def test_a_grey_model_takes_the_spectrum_of_grey_photos(tmp_path):
    rng = np.random.default_rng(2)
    photos = [rng.uniform(0, 1, (SIDE, SIDE, 3)) for _ in range(spectrum.MIN_PHOTOS)]
    files = write_photos(tmp_path / "colour", photos)
    grey, colour = (spectrum.natural_spectrum(files, SIDE, grey=g).magnitude for g in (True, False))
    grey_in_basis = np.abs(np.ones(3) @ np.linalg.inv(param.COLOR_CORRELATION.T))
    ratios = grey[:, 1:] / grey[0, 1:]  # every frequency in the grey-level proportions of the channels
    np.testing.assert_allclose(ratios.reshape(3, -1).mean(axis=1), grey_in_basis / grey_in_basis[0], rtol=1e-3)
    assert not np.allclose(grey, colour)


def test_a_spectrum_is_cached_by_its_photos(tmp_path):
    files = write_photos(tmp_path / "cached", [grating(SIDE, 1, 2, 0.0, 0.2)] * 2)
    first = spectrum.natural_spectrum(files, SIDE)
    assert spectrum.natural_spectrum(files, SIDE) is first
    Image.fromarray(np.zeros((SIDE, SIDE, 3), np.uint8)).save(files[0])  # changed: another key
    assert spectrum.natural_spectrum(files, SIDE).digest != first.digest


# --- the transparency overlay -------------------------------------------------------------------


def test_the_overlay_keeps_the_picture_where_it_mattered_and_fades_it_to_white_elsewhere():
    images = np.full((1, 4, 4, 3), 40, np.uint8)
    maps = np.zeros((1, 4, 4), np.float32)
    maps[0, :2] = 5.0  # the top half mattered, the bottom half never
    shown = transparency.with_transparency(images, maps)
    assert np.all(shown[0, :2] == 40) and np.all(shown[0, 2:] == 255)
    assert transparency.opacity(maps).min() >= 0 and transparency.opacity(maps).max() == 1
