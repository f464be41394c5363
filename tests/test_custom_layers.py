"""Subclassing sn.layers.Layer: the input_dtype rule, PoincareNormalize, and the docs' examples."""

import numpy as np
import pytest

import scratchnet as sn


class _TableLookup(sn.layers.Layer):
    """Reads integer ids and returns ``table[ids]``: a layer whose input must not become float."""

    input_dtype = "int32"

    def __init__(self, name=None):
        super().__init__(name=name)
        self.table = np.array([10.5, 20.5, 30.5])
        self.seen_dtype = None

    def build(self, input_shape, rng):
        return tuple(input_shape)

    def forward(self, x, training=False):
        self.seen_dtype = x.dtype
        return self.table[x].astype(sn.config.floatx())

    def backward(self, dy):
        return None


class _Echo(sn.layers.Layer):
    def forward(self, x, training=False):
        self.seen_dtype = x.dtype
        return x

    def backward(self, dy):
        return dy


def test_layer_with_input_dtype_gets_ids_uncast_in_sequential_and_call():
    model = sn.Sequential([_TableLookup(), sn.layers.Dense(1, kernel_initializer="ones")], seed=0)
    ids = np.array([[0, 2], [1, 1]], dtype=np.int64)
    out = model.predict(ids)
    assert model.layers[0].seen_dtype == np.int64
    np.testing.assert_allclose(out, [[41.0], [41.0]])
    layer = _TableLookup()
    np.testing.assert_allclose(layer(ids), [[10.5, 30.5], [20.5, 20.5]])
    assert layer.seen_dtype == np.int64


def test_float_layers_still_cast_and_reject_strings():
    model = sn.Sequential([_Echo()])
    model(np.array([[1, 2]], dtype=np.int64))
    assert model.layers[0].seen_dtype == np.float32
    layer = _Echo()
    layer(np.array([[1, 2]], dtype=np.int64))
    assert layer.seen_dtype == np.float32
    with pytest.raises(TypeError, match="numeric array"):
        model(np.array([["a", "b"]]))


# --- sn.addons.PoincareNormalize -----------------------------------------------------------------

def _poincare(input_shape, **kwargs):
    layer = sn.addons.PoincareNormalize(**kwargs)
    layer.ensure_built(input_shape)
    return layer


def test_poincare_golden_values():
    layer = _poincare((2,))
    out = layer(np.array([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6 * (1 - 1e-5), 0.8 * (1 - 1e-5)], [0.3, 0.4], [0, 0]],
                               rtol=1e-6)
    assert layer.count_params() == 0 and layer.output_shape == (2,)


def _numeric_input_grad(layer, x, dy, h=1e-6):
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = h
        numeric[i] = (np.sum(layer(x + step) * dy) - np.sum(layer(x - step) * dy)) / (2 * h)
    return numeric


@pytest.mark.parametrize(("axis", "shape"), [(1, (6, 4)), (-1, (3, 2, 4)), ((1, 2), (4, 2, 3)),
                                             (1, (3, 4, 2))])
def test_poincare_backward_matches_finite_differences_in_float64(axis, shape):
    sn.config.set_floatx("float64")
    rng = np.random.default_rng(5)
    layer = _poincare(shape[1:], axis=axis, epsilon=1e-5)
    x = rng.normal(size=shape)
    # Half the vectors well inside the ball, half well outside, none near the boundary.
    norms = np.sqrt(np.sum(x * x, axis=layer.axes, keepdims=True))
    target = np.where(rng.random(norms.shape) < 0.5, rng.uniform(0.2, 0.8, norms.shape),
                      rng.uniform(1.5, 4.0, norms.shape))
    x = x / norms * target
    dy = rng.normal(size=shape)
    layer(x)
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, _numeric_input_grad(layer, x, dy), rtol=1e-6, atol=1e-9)
    out = layer(x)
    assert np.all(np.sqrt(np.sum(out * out, axis=layer.axes)) <= 1 - 1e-5 + 1e-12)


def test_poincare_boundary_takes_the_shrinking_branch_and_zero_is_identity():
    sn.config.set_floatx("float64")
    layer = _poincare((2,), epsilon=0.25)
    x = np.array([[0.75, 0.0]])  # ||x|| = 1 - epsilon exactly: (1 - eps) / ||x|| == 1
    np.testing.assert_array_equal(layer(x), x)
    # shrinking branch: dx = dy - x (x . dy) / ||x||^2 = [0, 1]; the identity branch would give dy
    np.testing.assert_allclose(layer.backward(np.array([[1.0, 1.0]])), [[0.0, 1.0]], atol=1e-15)
    with np.errstate(all="raise"):
        zero = _poincare((3,))
        np.testing.assert_array_equal(zero(np.zeros((1, 3))), 0)
        np.testing.assert_array_equal(zero.backward(np.array([[1.0, -2.0, 3.0]])), [[1, -2, 3]])


def test_poincare_argument_errors():
    with pytest.raises(ValueError, match="epsilon"):
        sn.addons.PoincareNormalize(epsilon=1.0)
    with pytest.raises(ValueError, match="axis"):
        sn.addons.PoincareNormalize(axis="1")
    with pytest.raises(ValueError, match=r'PoincareNormalize "p".*axis 3 is out of range.*rank 3'):
        _poincare((2, 2), axis=3, name="p")


def test_poincare_saves_with_custom_objects(tmp_path):
    model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(4),
                           sn.addons.PoincareNormalize(axis=[1], epsilon=0.01)], seed=0)
    model.save(tmp_path / "p.npz")
    with pytest.raises(ValueError, match="custom_objects"):
        sn.load_model(tmp_path / "p.npz")
    loaded = sn.load_model(tmp_path / "p.npz",
                           custom_objects={"PoincareNormalize": sn.addons.PoincareNormalize})
    x = np.random.default_rng(0).normal(size=(5, 3)) * 5
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.layers[1].epsilon == 0.01 and loaded.layers[1].axis == (1,)


# --- docs/custom-layers.md: every NumPy-only example runs ---------------------------------------

def python_blocks(path):
    """The ```python blocks of a Markdown page, in order."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / path).read_text()
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def needs_tensorflow(block):
    return "import keras" in block or "import tfnet" in block or "import tensorflow" in block


def test_custom_layers_doc_examples_run():
    blocks = python_blocks("docs/custom-layers.md")
    numpy_only = [b for b in blocks if not needs_tensorflow(b)]
    assert len(numpy_only) >= 6 and len(blocks) > len(numpy_only)
    namespace = {}
    for block in numpy_only:
        exec(compile(block, "docs/custom-layers.md", "exec"), namespace)
    assert namespace["history"].history["within_half"][-1] > 0.9


def test_a_custom_layer_that_assigns_self_output_gets_a_clear_error():
    """``layer.output`` is Keras' graph tensor (read-only there too); a forward pass that caches
    its result as ``self.output`` is told to use a name of its own."""
    class Cached(sn.layers.Layer):
        def forward(self, x, training=False):
            self.output = x * 2
            return self.output

        def backward(self, dy):
            return dy * 2

    with pytest.raises(AttributeError, match='layer "cached": `output` is Keras\' layer.output.*'
                                             "a name of your own"):
        Cached()(np.ones((2, 3), dtype=np.float32))
