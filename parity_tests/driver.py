"""The parity driver: the same model, weights and batches through scratchnet and Keras, compared.

Every parity test is a short case on :func:`assert_parity` (or one of the checks it is made of):
build a scratchnet model, and the driver makes its Keras twin with ``tfnet.to_keras`` (identical
weights, equivalent loss and a fresh equivalent optimizer), runs both, and compares with
``np.testing.assert_allclose``.

Tolerances (PARITY.md, "Tolerances that are honest in float32"), each relative to the largest
magnitude of the Keras tensor it is compared with (``atol = rtol * max|keras|``), since an
element that should be 0 comes out as +-1e-9 in one framework and -1e-9 in the other:

- ``FORWARD_RTOL = 1e-5``: a layer output, a loss. float32 has a 6e-8 unit round-off; a dot product
  of a few hundred terms summed in a different order (NumPy's pairwise/BLAS order against
  Eigen's blocked order) differs by a few ulps of the largest term.
- ``GRAD_RTOL = 1e-4``: a gradient is a sum over the batch and the output positions of products
  of forward values, so it inherits their error and adds its own summation-order error.
- ``TRAJECTORY_RTOL = 1e-4``: weights after each of N optimizer steps; each step adds a
  gradient-sized rounding error, scaled down by the learning rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf
from hypothesis import settings

import scratchnet as sn
import tfnet

FORWARD_RTOL = 1e-5
GRAD_RTOL = 1e-4
TRAJECTORY_RTOL = 1e-4

# For the property-based sweeps: few examples (each runs TensorFlow eagerly), no deadline (the
# first TF call is slow), and the same examples every run, so CI is reproducible. Applied per
# test, not as a global profile, so tests/ keeps its own hypothesis settings.
SWEEP_SETTINGS = settings(max_examples=100, deadline=None, derandomize=True)


def assert_close(actual, desired, rtol: float, what: str) -> float:
    """``assert_allclose`` with ``atol = rtol * max|desired|``; returns the relative error seen."""
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    if actual.shape != desired.shape:
        raise AssertionError(f"{what}: shape {actual.shape} (scratchnet) != {desired.shape} (Keras)")
    scale = float(np.max(np.abs(desired))) if desired.size else 0.0
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale,
                               err_msg=f"{what} (scratchnet vs Keras, rtol={rtol})")
    return relative_error(actual, desired)


def relative_error(actual, desired) -> float:
    """``max|actual - desired| / max|desired|`` (0 when both are all zeros)."""
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    diff = float(np.max(np.abs(actual - desired))) if desired.size else 0.0
    scale = float(np.max(np.abs(desired))) if desired.size else 0.0
    return diff / scale if scale else diff


@dataclass
class Twins:
    """A scratchnet model and its Keras twin, built from the same weights."""

    scratch: sn.Sequential
    keras: keras.Sequential
    errors: dict[str, float] = field(default_factory=dict)  # what each check measured


def make_twins(model: sn.Sequential, loss=None, optimizer=None, metrics=None) -> Twins:
    """Compile ``model`` if a ``loss`` is given (default optimizer: SGD), then ``to_keras`` it."""
    if loss is not None:
        model.compile(optimizer=optimizer if optimizer is not None else sn.optimizers.SGD(),
                      loss=loss, metrics=metrics)
    return Twins(model, tfnet.to_keras(model))


def check_forward(twins: Twins, x, training: bool = False, rtol: float = FORWARD_RTOL) -> None:
    """Every layer's output, layer by layer, from the same input (inference mode by default).
    A functional model (inputs and outputs as lists): every output of the whole graph."""
    if not isinstance(twins.scratch, sn.Sequential):
        outputs_s, outputs_k = twins.scratch(x, training=training), twins.keras(x, training=training)
        outputs_s = outputs_s if isinstance(outputs_s, list) else [outputs_s]
        outputs_k = outputs_k if isinstance(outputs_k, list | tuple) else [outputs_k]
        for name, out_s, out_k in zip(twins.scratch.output_names, outputs_s, outputs_k, strict=True):
            twins.errors[f"forward/{name}"] = assert_close(
                out_s, np.asarray(out_k), rtol, f'output "{name}" of model "{twins.scratch.name}"')
        return
    xs = np.asarray(x, dtype=sn.config.floatx())
    xk = xs
    for layer, klayer in zip(twins.scratch.layers, twins.keras.layers, strict=True):
        xs = layer.forward(xs, training=training)
        xk = np.asarray(klayer(xk, training=training))
        twins.errors[f"forward/{layer.name}"] = assert_close(
            xs, xk, rtol, f'output of layer "{layer.name}" ({type(layer).__name__})')
        xk = xs.astype(xk.dtype)  # feed both the same input to the next layer: errors don't add up
    # And the whole stack end to end, where the errors do add up.
    twins.errors["forward/model"] = assert_close(
        twins.scratch(x, training=training), twins.keras(np.asarray(x), training=training), rtol,
        f'output of model "{twins.scratch.name}"')


def check_loss_and_grads(twins: Twins, x, y, loss_rtol: float = FORWARD_RTOL,
                         grad_rtol: float = GRAD_RTOL) -> tuple[float, list[np.ndarray]]:
    """The compiled loss of one batch and every gradient, in ``get_weights()`` order (zeros for a
    non-trainable weight on both sides)."""
    loss_s, grads_s = twins.scratch.loss_and_grads(x, y)
    loss_k, grads_k = tfnet.loss_and_grads(twins.keras, x, y)
    twins.errors["loss"] = assert_close(loss_s, loss_k, loss_rtol, "loss")
    for param, gs, gk in zip(twins.scratch.weights, grads_s, grads_k, strict=True):
        twins.errors[f"grad/{param.name}"] = assert_close(gs, gk, grad_rtol,
                                                          f'gradient of "{param.name}"')
    return loss_s, grads_s


def check_trajectory(twins: Twins, batches, steps: int, rtol: float = TRAJECTORY_RTOL,
                     loss_rtol: float = GRAD_RTOL) -> list[tuple[float, float]]:
    """``steps`` optimizer steps on ``batches`` (cycled): after each step every weight agrees.

    Keras runs its own ``train_on_batch`` (the compiled ``tf.function`` step ``fit`` uses);
    scratchnet runs ``train_step``. Returns the pairs of batch losses.
    """
    losses = []
    for step in range(steps):
        x, y = batches[step % len(batches)]
        twins.scratch.reset_metrics()  # so "loss" is this batch's loss, as train_on_batch reports
        loss_s = twins.scratch.train_step(x, y)["loss"]
        loss_k = twins.keras.train_on_batch(x, y, return_dict=True)["loss"]
        losses.append((loss_s, float(loss_k)))
        assert_close(loss_s, loss_k, loss_rtol, f"loss at step {step}")
        # every weight, the non-trainable ones too (BatchNormalization's moving statistics)
        for param, wk in zip(twins.scratch.weights, twins.keras.get_weights(), strict=True):
            err = assert_close(param.value, wk, rtol, f'"{param.name}" after step {step + 1}')
            twins.errors[f"trajectory/{param.name}"] = max(
                err, twins.errors.get(f"trajectory/{param.name}", 0.0))
    if twins.scratch.optimizer.iterations != int(twins.keras.optimizer.iterations):
        raise AssertionError(f"optimizer iterations: {twins.scratch.optimizer.iterations} "
                             f"(scratchnet) != {int(twins.keras.optimizer.iterations)} (Keras)")
    return losses


def assert_parity(model: sn.Sequential, x, y=None, *, loss=None, optimizer=None, steps: int = 0,
                  batch_size: int | None = None) -> Twins:
    """The one entry point: forward of every layer; with ``y`` the loss and every gradient; with
    ``steps`` that many optimizer steps on ``(x, y)`` cut into batches of ``batch_size``."""
    twins = make_twins(model, loss=loss, optimizer=optimizer)
    check_forward(twins, x)
    if y is not None:
        check_loss_and_grads(twins, x, y)
    if steps:
        size = batch_size or len(x)
        batches = [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]
        check_trajectory(twins, batches, steps)
    return twins


def layer_model(layer, input_shape, seed: int = 0) -> sn.Sequential:
    """A one-layer ``Sequential`` around ``layer``, to test it alone."""
    return sn.Sequential([sn.layers.Input(input_shape), layer], seed=seed)


def random_biases(model: sn.Sequential, seed: int = 0, scale: float = 0.1) -> sn.Sequential:
    """Non-zero biases, so a bias bug cannot hide behind the zeros initializer."""
    rng = np.random.default_rng(seed)
    model.set_weights([w if w.ndim > 1 else rng.normal(0, scale, w.shape)
                       for w in model.get_weights()])
    return model


def random_weights(model, seed: int = 0, scale: float = 0.5):
    """Every weight drawn from Normal(0, scale): a zero bias, PReLU's zero slopes or
    LayerNormalization's ones and zeros would hide a formula that gets them wrong."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, scale, w.shape).astype(w.dtype) for w in model.get_weights()])
    return model


def same_start(model, kmodel, seed: int = 1) -> None:
    """The same Normal(0, 0.5) draw of every weight into a scratchnet model and its Keras twin
    (``kmodel``'s weight order, which the twin shares); a BatchNormalization's moving variance
    from Uniform(0.5, 1.5) instead (it must stay positive)."""
    rng = np.random.default_rng(seed)
    weights = [rng.uniform(0.5, 1.5, w.shape).astype("float32") if "moving_variance" in w.path
               else rng.normal(0, 0.5, w.shape).astype("float32") for w in kmodel.weights]
    kmodel.set_weights(weights)
    model.set_weights(weights)


def random_data(shape, n: int = 4, classes: int = 4, seed: int = 0):
    """``n`` samples of ``shape`` from Normal(0, 1) in float32, and ``n`` labels below ``classes``."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *shape)).astype(np.float32), rng.integers(0, classes, n)


def keras_loss(loss, reduction="sum_over_batch_size") -> keras.losses.Loss:
    """The Keras twin of a scratchnet loss object (tfnet's converter), with ``reduction``
    (``None``: one value per sample)."""
    kloss = tfnet.convert.loss_to_keras(loss)
    assert type(kloss).__name__ == type(loss).__name__
    if isinstance(loss, sn.losses.Huber):  # Keras' Huber config drops delta (see convert.py)
        return keras.losses.Huber(delta=loss.delta, reduction=reduction)
    return type(kloss).from_config({**kloss.get_config(), "reduction": reduction})


def check_loss(loss, y, p, sample_weight=None) -> None:
    """A loss against its Keras twin: per-sample values and the mean (FORWARD_RTOL), d(mean)/dp
    by TensorFlow's tape (GRAD_RTOL), and with ``sample_weight`` the weighted mean."""
    y_s, p_s = loss.check(y, p)
    per_sample_k = np.asarray(keras_loss(loss, reduction=None)(y, p))
    assert_close(loss.forward(y_s, p_s), per_sample_k, FORWARD_RTOL, f"{loss.name} per sample")
    variable = tf.Variable(p)
    with tf.GradientTape() as tape:
        mean_k = keras_loss(loss)(y, variable)
    assert_close(loss(y, p), float(mean_k), FORWARD_RTOL, f"{loss.name} mean")
    assert_close(loss.backward(y_s, p_s), tape.gradient(mean_k, variable).numpy(), GRAD_RTOL,
                 f"{loss.name} gradient")
    if sample_weight is not None:
        weighted_k = float(keras_loss(loss)(y, p, sample_weight=sample_weight))
        assert_close(loss(y, p, sample_weight=sample_weight), weighted_k, FORWARD_RTOL,
                     f"{loss.name} weighted")


def check_round_trip(model, x=None) -> keras.Model:
    """``tfnet.to_keras`` then ``tfnet.from_keras``: the same layer types and parameter count in
    Keras, every weight copied bit for bit both ways, each layer's config unchanged after the trip,
    and the copy's predictions equal to Keras' (FORWARD_RTOL). ``x``: inputs to predict on
    (default: uniform in [0, 2) of the model's input shape). Returns the Keras model."""
    kmodel = tfnet.to_keras(model)
    assert [type(k).__name__ for k in kmodel.layers] == [type(s).__name__ for s in model.layers]
    assert model.count_params() == kmodel.count_params()
    for ws, wk in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        assert ws.dtype == wk.dtype and np.array_equal(ws, wk)
    back = tfnet.from_keras(kmodel)
    assert [type(s) for s in back.layers] == [type(s) for s in model.layers]
    for original, copy in zip(model.layers, back.layers, strict=True):
        assert copy.get_config() == original.get_config()
    for ws, wb in zip(model.get_weights(), back.get_weights(), strict=True):
        assert np.array_equal(ws, wb)
    if x is None:
        x = np.random.default_rng(0).uniform(0, 2, size=(3, *model.input_shape[1:])).astype(np.float32)
    assert_close(back.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "predictions")
    return kmodel
