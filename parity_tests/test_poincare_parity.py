"""sn.addons.PoincareNormalize agrees with its Keras twin tfnet.addons.PoincareNormalize.

Forward in float32 at 1e-6 relative (one rsqrt and two products), input gradients at 1e-4 and a
model's weight gradients at 1e-4 (PARITY.md's float32 gradient tolerance). The Keras twin computes
TF Addons' formula with keras.ops and TensorFlow derives its gradient, so this checks the
hand-written backward pass against autodiff.
"""

import os
import re
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # before TensorFlow is imported

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import scratchnet as sn  # noqa: E402
import tfnet.addons  # noqa: E402


def _mixed_norm_inputs(shape, axes, seed):
    """Random vectors, half inside the ball and half outside, none near its boundary."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape)
    norms = np.sqrt(np.sum(x * x, axis=axes, keepdims=True))
    target = np.where(rng.random(norms.shape) < 0.5, rng.uniform(0.1, 0.9, norms.shape),
                      rng.uniform(1.2, 20.0, norms.shape))
    return (x / norms * target).astype(np.float32), rng.normal(size=shape).astype(np.float32)


def _keras_output_and_input_grad(klayer, x, dy):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = klayer(x)
        total = tf.reduce_sum(out * dy)
    return out.numpy(), tape.gradient(total, x).numpy()


@pytest.mark.parametrize(("axis", "shape"), [(1, (16, 5)), (-1, (6, 3, 4)), ((1, 2), (8, 3, 2)),
                                             (2, (4, 3, 5))])
def test_forward_and_input_gradient_match_keras(axis, shape):
    ours = sn.addons.PoincareNormalize(axis=axis, epsilon=1e-5)
    ours.ensure_built(shape[1:])
    x, dy = _mixed_norm_inputs(shape, ours.axes, seed=len(shape))
    theirs = tfnet.addons.poincare_normalize_to_keras(ours)
    kout, kdx = _keras_output_and_input_grad(theirs, x, dy)
    out = ours(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, kout, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ours.backward(dy), kdx, rtol=1e-4, atol=1e-6)


def test_boundary_gradient_matches_tensorflows_minimum_rule():
    x = np.array([[0.75, 0.0]], dtype=np.float32)  # ||x|| = 1 - epsilon: a tie inside minimum()
    dy = np.array([[1.0, 1.0]], dtype=np.float32)
    ours = sn.addons.PoincareNormalize(epsilon=0.25)
    out = ours(x)
    kout, kdx = _keras_output_and_input_grad(tfnet.addons.PoincareNormalize(epsilon=0.25), x, dy)
    np.testing.assert_allclose(out, kout, rtol=1e-6)
    np.testing.assert_allclose(ours.backward(dy), kdx, atol=1e-6)
    np.testing.assert_allclose(kdx, [[0.0, 1.0]], atol=1e-6)  # TF too takes the shrinking branch


def test_model_weight_gradients_match_keras():
    keras.utils.set_random_seed(0)
    model = sn.Sequential([sn.layers.Input((6,)), sn.layers.Dense(4),
                           sn.addons.PoincareNormalize(axis=1), sn.layers.Dense(3)], seed=0)
    model.compile("sgd", sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    kmodel = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4),
                               tfnet.addons.poincare_normalize_to_keras(model.layers[1]),
                               keras.layers.Dense(3)])
    kmodel.set_weights(model.get_weights())
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(32, 6)) * rng.choice([0.05, 3.0], size=(32, 1))).astype(np.float32)
    y = rng.integers(0, 3, size=32)
    hidden = x @ model.get_weights()[0] + model.get_weights()[1]
    norms = np.linalg.norm(hidden, axis=1)
    assert np.any(norms < 0.9) and np.any(norms > 1.1)  # both branches are exercised
    loss, grads = model.loss_and_grads(x, y)
    with tf.GradientTape() as tape:
        kloss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
            y, kmodel(x, training=True))
    kgrads = tape.gradient(kloss, kmodel.trainable_variables)
    np.testing.assert_allclose(loss, float(kloss), rtol=1e-6)
    for g, kg in zip(grads, kgrads, strict=True):
        np.testing.assert_allclose(g, kg.numpy(), rtol=1e-4, atol=1e-6)


def test_mapping_round_trip_and_keras_serialisation(tmp_path):
    ours = sn.addons.PoincareNormalize(axis=(1, 2), epsilon=1e-3, name="ball")
    theirs = tfnet.addons.TO_KERAS[type(ours)](ours)
    assert (theirs.name, theirs.axis, theirs.epsilon) == ("ball", [1, 2], 1e-3)
    back = tfnet.addons.FROM_KERAS[type(theirs)](theirs)
    assert back.get_config() == ours.get_config()
    kmodel = keras.Sequential([keras.Input((2, 3)), theirs])
    kmodel.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    x = np.random.default_rng(0).normal(size=(4, 2, 3)).astype(np.float32) * 3
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), ours(x), rtol=1e-6)
    assert isinstance(reloaded.layers[0], tfnet.addons.PoincareNormalize)


def test_custom_layers_doc_examples_run_with_keras():
    text = (Path(__file__).resolve().parents[1] / "docs" / "custom-layers.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert any("import tfnet" in block for block in blocks)
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/custom-layers.md", "exec"), namespace)
    assert "twin" in namespace and namespace["history"].history["within_half"][-1] > 0.9
