"""The one module that touches TensorFlow internals: fail loudly if TensorFlow changes them."""
import numpy as np
import tensorflow as tf

from vizcore import relu_override


def test_tensorflow_still_has_the_gradient_registry_we_use():
    from tensorflow.python.framework import ops as tf_ops
    assert callable(tf_ops.RegisterGradient) and hasattr(tf_ops, "_gradient_registry")
    for name in relu_override.REDIRECTED_RELU.values():
        assert tf_ops._gradient_registry.lookup(name) is not None  # registered at import, found by name


def test_the_override_redirects_a_dead_relus_gradient():
    x = tf.constant([[-1.0, -2.0]])

    @tf.function
    def gradient(override: bool):
        with relu_override.redirected_relu_gradients(override):
            y = tf.nn.relu(x)
        return tf.gradients(-tf.reduce_sum(y), x)[0]  # Lucid's sign: a loss to minimise

    assert np.all(gradient(False).numpy() == 0)       # a plain ReLU passes nothing below 0
    assert np.all(gradient(True).numpy() < 0)         # redirected: the push that would wake it passes
