"""Transforms and the Fourier parameterisation: shapes, determinism, gradients."""
import numpy as np
import pytest
import tensorflow as tf

from vizcore import param, transforms

SEED = transforms.step_seed(7, 3)


def batch(n=2, size=32):
    return tf.random.stateless_uniform([n, size, size, 3], [1, 2])


@pytest.mark.parametrize("transform, expected_side", [
    (transforms.pad(12), 56),
    (transforms.jitter(8), 24),
    (transforms.rotate([15]), 32),
    (transforms.scale([0.5]), 16),
    (transforms.compose([transforms.pad(4), transforms.jitter(2)]), 38),
])
def test_each_transform_keeps_the_batch_and_changes_the_size_as_documented(transform, expected_side):
    out = transform(batch(), SEED)
    assert out.shape == (2, expected_side, expected_side, 3)


def test_pad_fills_with_the_value_and_keeps_the_middle():
    images = batch()
    out = transforms.pad(3, value=0.25)(images, SEED).numpy()
    assert np.all(out[:, :3] == 0.25) and np.all(out[:, :, -3:] == 0.25)
    np.testing.assert_array_equal(out[:, 3:-3, 3:-3], images.numpy())


def test_jitter_is_a_crop_of_the_input():
    images = batch().numpy()
    out = transforms.jitter(4)(tf.constant(images), SEED).numpy()
    matches = [(dy, dx) for dy in range(5) for dx in range(5)
               if np.array_equal(images[:, dy:dy + 28, dx:dx + 28], out)]
    assert len(matches) == 1


def test_rotate_by_zero_and_scale_by_one_are_the_identity():
    images = batch()
    np.testing.assert_allclose(transforms.rotate([0])(images, SEED), images, atol=1e-5)
    np.testing.assert_allclose(transforms.scale([1.0])(images, SEED), images, atol=1e-5)


def test_rotate_by_90_degrees_turns_the_image():
    images = batch(1, 9)
    np.testing.assert_allclose(transforms.rotate([90])(images, SEED)[0], np.rot90(images[0].numpy(), k=1), atol=1e-4)


def test_same_seed_same_perturbation_other_seed_other_one():
    robust, images = transforms.standard(), batch()
    first, again = robust(images, SEED), robust(images, SEED)
    np.testing.assert_array_equal(first, again)
    others = [robust(images, transforms.step_seed(7, step)) for step in range(4, 12)]
    assert any(other.shape != first.shape or not np.array_equal(other, first) for other in others)


def test_every_image_of_a_batch_gets_the_same_perturbation():
    images = batch(3)
    together = transforms.standard()(images, SEED)
    alone = transforms.standard()(images[1:2], SEED)
    np.testing.assert_allclose(together[1:2], alone, atol=1e-6)


def test_gradients_flow_through_the_standard_transforms():
    images = tf.Variable(batch())
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(transforms.standard()(images, SEED))
    gradient = tape.gradient(loss, images)
    assert gradient is not None and float(tf.reduce_sum(tf.abs(gradient))) > 0


def test_traced_once_for_any_shape_and_seed():
    function = tf.function(transforms.standard(), input_signature=[
        tf.TensorSpec([None, None, None, 3]), tf.TensorSpec([2], tf.int32)])
    for size in (32, 48):
        for step in range(3):
            function(batch(2, size), transforms.step_seed(0, step))
    assert function.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("make", [lambda: transforms.pad(-1), lambda: transforms.jitter(-2),
                                  lambda: transforms.scale([]), lambda: transforms.scale([0.0]),
                                  lambda: transforms.rotate([])])
def test_bad_transform_arguments(make):
    with pytest.raises(ValueError):
        make()


def test_fourier_parameterisation_gives_valid_rgb_reproducibly():
    seeds = tf.constant([[0, 3], [0, 5]])
    spectrum = param.initial_spectrum(40, seeds)
    assert spectrum.shape == (2, *param.spectrum_shape(40))
    rgb = param.to_rgb(spectrum).numpy()
    assert rgb.shape == (2, 40, 40, 3) and rgb.min() >= 0 and rgb.max() <= 1
    alone = param.initial_spectrum(40, seeds[1:])  # an image's start does not depend on its batch
    np.testing.assert_array_equal(alone[0], spectrum[1])


def test_frequency_scale_matches_numpy_fft_frequencies():
    size = 10
    fy, fx = np.fft.fftfreq(size)[:, None], np.fft.rfftfreq(size)[None, :]
    expected = size / np.maximum(np.sqrt(fx ** 2 + fy ** 2), 1 / size)
    np.testing.assert_allclose(param.frequency_scale(size), expected, rtol=1e-5)


@pytest.mark.parametrize("power", [0.0, 0.75, 1.5])
def test_low_pass_divides_each_frequency_by_its_cycles_as_numpy_does(power):
    images = np.random.default_rng(3).normal(size=(2, 12, 12, 3)).astype(np.float32)
    cycles = np.hypot(np.fft.fftfreq(12)[:, None] * 12, np.fft.rfftfreq(12)[None, :] * 12)
    gain = 1 / np.maximum(cycles, 1) ** power
    expected = np.fft.irfft2(np.fft.rfft2(images, axes=(1, 2)) * gain[None, :, :, None], s=(12, 12), axes=(1, 2))
    smoothed = param.low_pass(tf.constant(images), power).numpy()
    np.testing.assert_allclose(smoothed, expected, atol=1e-5)
    np.testing.assert_allclose(smoothed.mean(axis=(1, 2)), images.mean(axis=(1, 2)), atol=1e-5)  # the mean kept
    if power == 0:
        np.testing.assert_allclose(smoothed, images, atol=1e-5)


def test_low_pass_is_its_own_adjoint_and_its_gradient():
    rng = np.random.default_rng(4)
    images, upstream = (tf.constant(rng.normal(size=(2, 12, 12, 3)).astype(np.float32)) for _ in range(2))
    # <P x, g> = <x, P g>: the identity the custom gradient rests on
    assert float(tf.reduce_sum(param.low_pass(images, 0.75) * upstream)) == pytest.approx(
        float(tf.reduce_sum(images * param.low_pass(upstream, 0.75))), rel=1e-4)
    with tf.GradientTape() as tape:
        tape.watch(images)
        total = tf.reduce_sum(param.low_pass(images, 0.75) * upstream)
    np.testing.assert_allclose(tape.gradient(total, images), param.low_pass(upstream, 0.75), atol=1e-5)
    with tf.GradientTape() as tape:  # and what TensorFlow's own FFT gradients give
        tape.watch(images)
        total = tf.reduce_sum(param._low_pass(images, 0.75) * upstream)
    np.testing.assert_allclose(tape.gradient(total, images), param.low_pass(upstream, 0.75), atol=1e-5)


def test_a_random_spectrum_has_more_power_at_low_frequencies():
    image = param.to_rgb(10 * param.initial_spectrum(64, tf.constant([[1, 1]]))).numpy()[0].mean(axis=2)
    power = np.abs(np.fft.rfft2(image - image.mean())) ** 2
    assert power[1:4, 1:4].mean() > 10 * power[20:30, 20:30].mean()


def test_the_rotation_gradient_is_close_to_the_exact_adjoint():
    """The warp's gradient is the inverse warp (as TensorFlow's ImageProjectiveTransformV3 has it),
    not the exact adjoint of bilinear sampling; for smooth upstream gradients the two agree."""
    import math
    images = batch(2, 48)
    upstream = tf.image.resize(tf.random.stateless_normal([2, 12, 12, 3], [3, 4]), [48, 48])  # smooth
    angle = 10 * math.pi / 180
    cos, sin, centre = math.cos(angle), math.sin(angle), 47 / 2
    matrix = tf.constant([cos, -sin, centre - cos * centre + sin * centre,
                          sin, cos, centre - sin * centre - cos * centre])
    gradients = []
    for resample in (lambda x: transforms.rotate([10])(x, SEED), lambda x: transforms._bilinear(x, matrix, 48, 48)):
        with tf.GradientTape() as tape:
            tape.watch(images)
            loss = tf.reduce_sum(resample(images) * upstream)
        gradients.append(tape.gradient(loss, images).numpy()[:, 8:-8, 8:-8].ravel())  # corners move out
    ours, exact = gradients
    assert ours @ exact / np.linalg.norm(ours) / np.linalg.norm(exact) > 0.98


@pytest.mark.parametrize("factor, degrees", [(1.1, 0), (0.9, 0), (1.0, 7), (1.1, -10)])
def test_affine_is_scale_then_rotate_in_one_resampling(factor, degrees):
    images = tf.image.resize(batch(2, 6), [48, 48], method="bicubic")  # smooth: one or two resamplings agree
    together = transforms.affine([factor], [degrees])(images, SEED)
    apart = transforms.rotate([degrees])(transforms.scale([factor])(images, SEED), SEED)
    assert together.shape == apart.shape
    np.testing.assert_allclose(together[:, 10:-10, 10:-10], apart[:, 10:-10, 10:-10], atol=0.02)  # corners mirror


def test_the_standard_transforms_in_one_resampling_are_the_four_steps():
    """Without scale or rotation, the one resampling is pad then two crops: the input is found,
    unchanged, at an offset of pad − crops, surrounded by the pad's value."""
    images = batch(size=24)
    plain = transforms.lucid_in_one(5, 0, [1.0], [0], 0, 0.25)(images, SEED).numpy()
    np.testing.assert_allclose(plain, transforms.pad(5, 0.25)(images, SEED).numpy(), atol=1e-6)
    moved = transforms.lucid_in_one(5, 4, [1.0], [0], 2, 0.25)(images, SEED).numpy()
    assert moved.shape == (2, 24 + 10 - 4 - 2, 24 + 10 - 4 - 2, 3)
    room = moved.shape[1] - 24 + 1
    offsets = [(y, x) for y in range(room) for x in range(room)
               if np.allclose(moved[:, y:y + 24, x:x + 24], images.numpy(), atol=1e-5)]
    assert len(offsets) == 1, offsets  # the image, whole, at one place
    y, x = offsets[0]
    assert np.all(moved[:, :y] == 0.25) and np.all(moved[:, :, :x] == 0.25)


def test_the_one_resampling_scales_and_rotates_like_affine():
    images = batch(size=40)
    fused = transforms.lucid_in_one(0, 0, [1.1], [8], 0, 0.5)(images, SEED).numpy()
    composed = transforms.affine([1.1], [8])(images, SEED).numpy()
    assert fused.shape == composed.shape
    np.testing.assert_allclose(fused[:, 8:-8, 8:-8], composed[:, 8:-8, 8:-8], atol=1e-5)  # alike inside


def shifts_between(moved, images, most=2):
    """The whole-pixel shifts (dy, dx), |d| ≤ most, under which ``moved`` is ``images`` where both overlap."""
    side = images.shape[1]
    return [(dy, dx) for dy in range(-most, most + 1) for dx in range(-most, most + 1)
            if np.allclose(moved[:, max(dy, 0):side + min(dy, 0), max(dx, 0):side + min(dx, 0)],
                           images[:, max(-dy, 0):side + min(-dy, 0), max(-dx, 0):side + min(-dx, 0)], atol=1e-5)]


def test_settling_only_shifts_the_image_by_at_most_two_pixels():
    """The end of a robust run: same size, the image moved by a whole number of pixels in [-2, 2]
    (no scale, no rotation); seeds draw different shifts."""
    images = batch(size=24).numpy()
    shifts = set()
    for step in range(12):
        settled = transforms.settling(pad_value=0.25)(tf.constant(images), transforms.step_seed(7, step)).numpy()
        assert settled.shape == images.shape
        found = shifts_between(settled, images)
        assert len(found) == 1, found
        shifts.add(found[0])
    assert len(shifts) > 3
    turned = transforms.lucid_in_one(2, 4, [1.0], [3], 0, 0.25)(tf.constant(images), SEED).numpy()
    assert turned.shape == images.shape and shifts_between(turned, images) == []  # the bad case: 3° is no shift
