"""MaCo (Fel et al., 2023): a fixed natural magnitude, the phase optimised, random crops, transparency."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import test_steps as capped_steps
from PIL import Image

from vizcore import ascent, filters, objectives, param, spectrum, step_rules, transforms, transparency
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


def corner_glow(spread: float) -> float:
    """How much brighter than the whole picture the 8×8 corners of 8 fresh 64-px MaCo pictures are."""
    magnitude = tf.constant(target_magnitude(64))
    phase = param.MaCo(magnitude.numpy(), "test").start(64, np.stack([np.zeros(8, np.int32), np.arange(8)], 1))
    saved, param.PHASE_SPREAD = param.PHASE_SPREAD, spread
    try:
        images = param.maco_rgb(phase, magnitude).numpy()
    finally:
        param.PHASE_SPREAD = saved
    corners = np.concatenate([images[:, :4, :4], images[:, :4, -4:], images[:, -4:, :4], images[:, -4:, -4:]], 1)
    return float(corners.mean() - images.mean())


def test_fresh_maco_pictures_have_no_glowing_corners():
    """Phases spread over the circle add up nowhere in particular; Xplique's spread of 1 lights pixel (0, 0)."""
    assert abs(corner_glow(param.PHASE_SPREAD)) < 0.08
    assert corner_glow(1.0) > 0.2


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
    """A neuron at the top-left of an uncropped MaCo picture: the gradient falls there, never bottom-right
    (the run's own crops wrap around the picture, so any place may be any crop's top-left)."""
    magnitude = spectrum.folder_spectrum(None, SIDE)
    method = step_rules.Method(param.MaCo(magnitude.magnitude, magnitude.digest), "adam")
    objective = objectives.neuron("conv_1", [0, 1], x=2, y=2).checked(tiny_model)
    run = filters.AscentSettings("maco", capped_steps(16), 0.2, SIDE, 0)
    transparency = list(ascent.climb(tiny_model, objective, method, run, np.array([[0, 0], [0, 1]])))[-1].transparency
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


def test_several_crops_of_each_image_come_crop_by_crop_each_the_same_for_every_image():
    images = tf.random.stateless_uniform([3, 40, 40, 3], [0, 4])
    out = transforms.random_crops(16, 0.4, 0.8, 0.0, crops=4)(images, transforms.step_seed(2, 3)).numpy()
    assert out.shape == (12, 16, 16, 3)
    alone = transforms.random_crops(16, 0.4, 0.8, 0.0, crops=4)(images[1:2], transforms.step_seed(2, 3)).numpy()
    np.testing.assert_allclose(out[1::3], alone, atol=1e-6)  # image 1's crops, whatever the rest of the batch
    assert not np.allclose(out[1], out[4])  # crop 0 and crop 1 of image 1 differ


def corner_reach(wrap: bool) -> float:
    """How much of the top-left pixel's value reaches the crops (over the mean pixel's), in 64 steps of
    crops of 0.8 the picture's side."""
    images = tf.Variable(tf.zeros([1, 32, 32, 3]))
    crop = transforms.random_crops(8, 0.8, 0.8, 0.0, crops=4, wrap=wrap)
    reach = np.zeros([32, 32])
    for step in range(64):
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(crop(images, transforms.step_seed(0, step)))
        reach += tape.gradient(total, images).numpy()[0, ..., 0]
    return float(reach[0, 0] / reach.mean())


def test_wrapped_crops_reach_the_corners_of_a_periodic_picture_and_clipped_ones_hardly():
    assert corner_reach(wrap=True) > 0.25  # centres ~ N(0.5, 0.15): a crop past the edge comes back
    assert corner_reach(wrap=False) < 0.05


def test_a_wrapped_crop_past_the_edge_reads_the_other_side():
    """A whole-side crop of a periodic picture, wrapped, is the picture shifted: the same period."""
    wave = np.cos(2 * np.pi * np.arange(20) / 20).astype(np.float32)
    picture = tf.constant(np.broadcast_to(wave[None, :, None], (20, 20, 3))[None])
    crop = transforms.random_crops(20, 1.0, 1.0, 0.0, wrap=True)
    rows = [crop(picture, transforms.step_seed(0, step)).numpy()[0, 0, :, 0] for step in range(8)]
    for row in rows:
        assert abs(np.abs(np.fft.rfft(row))[1] - 10.0) < 0.3  # the wave's one frequency, amplitude 1
        assert np.abs(np.fft.rfft(row))[2:].max() < 0.1  # nothing else: no seam
    assert np.ptp([row[0] for row in rows]) > 0.2  # shifted differently each step


def test_several_crops_score_the_mean_of_the_crops_and_shrink_the_chunk(tiny_model):
    objective = objectives.class_logit([1, 2]).checked(tiny_model)
    method = step_rules.maco(tiny_model, SIDE)
    assert method.crops == step_rules.MACO_CROPS > 1
    assert method.chunk_size(SIDE) == max(1, step_rules.CHUNK_PIXELS // (SIDE**2 * method.crops))
    climber = ascent.engine(tiny_model, method, objective)
    x = method.parameterisation.start(SIDE, np.array([[0, 1], [0, 2]]))
    seed, image = transforms.step_seed(0, 7), method.parameterisation.image(x)
    scores = climber._scores(x, seed, objective.arguments(), method.transform).numpy()
    crops = param.model_inputs(method.parameterisation, tiny_model.scaling, x, method.transform, seed, image)
    logits = np.asarray(tiny_model.scores(crops)).reshape(method.crops, 2, -1)
    np.testing.assert_allclose(scores, logits[:, [0, 1], [1, 2]].mean(axis=0), rtol=1e-4, atol=1e-5)


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
