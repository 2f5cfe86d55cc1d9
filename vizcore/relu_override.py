"""Redirected ReLU gradients (Lucid's optvis/overrides/redirected_relu_grad.py), registered with TensorFlow.

The one module that touches TensorFlow internals (its gradient registry, to register the two
gradient functions once even when the module is imported twice, as a dev server's reload does, and
TF1's gradient override map of the graph being traced). ``tests/test_relu_override.py`` fails
loudly if TensorFlow changes them. Use the override with ``with redirected_relu_gradients():``
around the forward pass, inside a ``tf.function``, and take the gradient with ``tf.gradients``
(a ``GradientTape`` ignores the override map).
"""

from __future__ import annotations

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import tensorflow as tf
from tensorflow.python.framework import ops as tf_ops


def _redirected(x, grad, relu_grad, pushing_out):
    """Where an image's ReLU passes no gradient at all, let through the part that would wake it.

    Lucid's sign convention: ``grad`` is the gradient of a loss to minimise, so a negative input
    with a positive gradient is being pushed further down and stays blocked.
    """
    passing = tf.where(pushing_out, tf.zeros_like(grad), grad)
    batch = tf.shape(x)[0]
    magnitude = tf.norm(tf.reshape(relu_grad, [batch, -1]), axis=1)
    alive = tf.reshape(magnitude > 0, tf.concat([[batch], tf.ones([tf.rank(x) - 1], tf.int32)], 0))
    return tf.where(alive, relu_grad, passing)


def _register_gradient(name: str):
    """tf RegisterGradient that tolerates a second import of this module (a dev server's reload)."""
    try:
        tf_ops._gradient_registry.lookup(name)
    except LookupError:
        return tf_ops.RegisterGradient(name)
    return lambda function: function


@_register_gradient("VizcoreRedirectedRelu")
def _redirected_relu_grad(op, grad):
    x = op.inputs[0]
    relu_grad = tf.raw_ops.ReluGrad(gradients=grad, features=op.outputs[0])
    return _redirected(x, grad, relu_grad, (x < 0.0) & (grad > 0.0))


@_register_gradient("VizcoreRedirectedRelu6")
def _redirected_relu6_grad(op, grad):
    x = op.inputs[0]
    relu_grad = tf.raw_ops.Relu6Grad(gradients=grad, features=x)
    return _redirected(x, grad, relu_grad, ((x < 0.0) & (grad > 0.0)) | ((x > 6.0) & (grad < 0.0)))


REDIRECTED_RELU = {"Relu": "VizcoreRedirectedRelu", "Relu6": "VizcoreRedirectedRelu6"}


def redirected_relu_gradients(redirect: bool = True):
    """A context in which the ReLU and ReLU6 ops traced get the redirected gradients (or, with
    ``redirect`` False, their own): TF1's ``gradient_override_map`` of the graph being traced."""
    return tf.compat.v1.get_default_graph().gradient_override_map(REDIRECTED_RELU if redirect else {})
