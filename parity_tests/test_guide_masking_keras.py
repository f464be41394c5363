"""keras.io's guide "Understanding masking & padding", section by section, run in both libraries
(the same program with ``keras`` or ``scratchnet`` as the module) on small seeded data:

- padding with ``pad_sequences``;
- the masks ``Embedding(mask_zero=True)`` and ``Masking`` make, read from ``compute_mask`` and
  from the eager output's ``_keras_mask``;
- mask propagation in a Sequential and a functional model, and through a custom layer that opts
  in with ``supports_masking = True`` (its KerasTensor's ``_keras_mask``);
- a mask given by hand: ``lstm(x, mask=...)`` eagerly, and inside a layer made of layers that
  passes ``embedding.compute_mask(inputs)`` to its LSTM;
- a layer of one's own that makes a mask (``compute_mask`` with ``ops.not_equal``);
- a mask consumer, ``call(inputs, mask=None)`` (the guide's TemporalSoftmax), in a functional
  model: outputs, and weights after a few SGD steps.

Weights are copied from Keras into scratchnet with ``set_weights``. Tolerances (driver.py):
outputs FORWARD_RTOL, weights after training TRAJECTORY_RTOL. The guide's ``TemporalSplit`` (a
``call`` returning a list from ``ops.split``) is in ``test_several_outputs_keras.py``.
"""

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, TRAJECTORY_RTOL, assert_close

RAGGED = [[7, 3, 9], [4, 1, 8, 5, 2], [6, 2, 11, 3, 10, 1]]
VOCAB = 12


def _padded():
    return keras.utils.pad_sequences(RAGGED, padding="post")


def _copy_weights(ours, theirs):
    """Keras' weights into scratchnet's twin (same order), so both compute with the same numbers."""
    ours.set_weights(theirs.get_weights())


def _keras_mask(tensor):
    return np.asarray(tensor._keras_mask)


def test_pad_sequences_post():
    ours = sn.utils.pad_sequences(RAGGED, padding="post")
    np.testing.assert_array_equal(ours, _padded())
    assert ours.dtype == _padded().dtype and ours[0].tolist() == [7, 3, 9, 0, 0, 0]


def test_embedding_output_carries_its_mask():
    ids = _padded()
    theirs = keras.layers.Embedding(VOCAB, 4, mask_zero=True)
    ours = sn.layers.Embedding(VOCAB, 4, mask_zero=True)
    k_out = theirs(ids)
    ours(ids)  # built on a first call
    _copy_weights(ours, theirs)
    out = ours(ids)
    assert_close(out, k_out, FORWARD_RTOL, "embedding output")
    np.testing.assert_array_equal(out._keras_mask, _keras_mask(k_out))
    np.testing.assert_array_equal(ours.compute_mask(ids), np.asarray(theirs.compute_mask(ids)))
    assert out._keras_mask.dtype == np.bool_ and out._keras_mask.shape == (3, 6)


def test_masking_layer_output_carries_its_mask():
    x = np.tile(_padded()[..., None], (1, 1, 3)).astype("float32")  # the guide's stand-in embedding
    k_out = keras.layers.Masking()(x)
    out = sn.layers.Masking()(x)
    assert_close(out, k_out, FORWARD_RTOL, "Masking output")
    np.testing.assert_array_equal(out._keras_mask, _keras_mask(k_out))


def test_an_array_computed_from_a_masked_output_carries_no_mask():
    out = sn.layers.Embedding(VOCAB, 4, mask_zero=True)(_padded())
    assert (out + 1)._keras_mask is None and np.asarray(out).__class__ is np.ndarray


def _seq_model(K, seed):
    return K.Sequential([K.Input((None,), dtype="int32"),
                         K.layers.Embedding(VOCAB, 4, mask_zero=True), K.layers.LSTM(3)], **seed)


def test_sequential_propagates_the_mask_to_the_lstm():
    theirs, ours = _seq_model(keras, {}), _seq_model(sn, {"seed": 0})
    _copy_weights(ours, theirs)
    ids = _padded()
    assert_close(ours(ids), theirs(ids), FORWARD_RTOL, "Sequential output")
    # the padded steps are skipped: a shorter sequence gives the same state without its padding
    np.testing.assert_allclose(ours(ids[:1, :3]), ours(ids[:1]), rtol=FORWARD_RTOL)


def _custom_layers(K):
    class PassMask(K.layers.Layer):
        """The guide's MyActivation: a step-wise layer that opts in to passing the mask on."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs):
            return K.ops.relu(inputs)

    class EmbedAndRun(K.layers.Layer):
        """The guide's MyLayer: hands the embedding's compute_mask to its LSTM by hand."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embedding = K.layers.Embedding(VOCAB, 4, mask_zero=True)
            self.lstm = K.layers.LSTM(3)

        def call(self, inputs):
            h = self.embedding(inputs)
            return self.lstm(h, mask=self.embedding.compute_mask(inputs))

    class ZeroIsPadding(K.layers.Layer):
        """The guide's CustomEmbedding: its own table and its own compute_mask."""

        def __init__(self, input_dim, output_dim, **kwargs):
            super().__init__(**kwargs)
            self.input_dim, self.output_dim = input_dim, output_dim

        def build(self, input_shape):
            self.table = self.add_weight(shape=(self.input_dim, self.output_dim),
                                         initializer="random_normal", dtype="float32")

        def call(self, inputs):
            return K.ops.take(self.table, inputs, axis=0)

        def compute_mask(self, inputs, mask=None):
            return K.ops.not_equal(inputs, 0)

    class SoftmaxOverTime(K.layers.Layer):
        """The guide's TemporalSoftmax (written here as a true softmax over the real steps)."""

        def call(self, inputs, mask=None):
            keep = K.ops.expand_dims(K.ops.cast(mask, "float32"), -1)
            e = K.ops.exp(inputs) * keep
            return e / K.ops.sum(e, axis=1, keepdims=True)

    return PassMask, EmbedAndRun, ZeroIsPadding, SoftmaxOverTime


def _functional_with_pass_mask(K):
    PassMask = _custom_layers(K)[0]
    inputs = K.Input((None,), dtype="int32")
    h = PassMask()(K.layers.Embedding(VOCAB, 4, mask_zero=True)(inputs))
    return K.Model(inputs, K.layers.LSTM(3)(h)), h


def test_a_supports_masking_layer_passes_the_mask_on():
    theirs, k_h = _functional_with_pass_mask(keras)
    ours, h = _functional_with_pass_mask(sn)
    assert h._keras_mask.shape == tuple(k_h._keras_mask.shape) == (None, None)
    assert h._keras_mask.dtype == k_h._keras_mask.dtype == "bool"
    _copy_weights(ours, theirs)
    ids = _padded()
    assert_close(ours(ids), theirs(ids), FORWARD_RTOL, "Embedding -> PassMask -> LSTM")


def test_masking_symbolic_mask_drops_the_feature_axis():
    k_h = keras.layers.Masking()(keras.Input((6, 3)))
    h = sn.layers.Masking()(sn.Input((6, 3)))
    assert h._keras_mask.shape == tuple(k_h._keras_mask.shape) == (None, 6)


def test_lstm_called_with_a_mask_by_hand():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 6, 2)).astype("float32")
    mask = _padded() != 0
    theirs, ours = keras.layers.LSTM(3), sn.layers.LSTM(3)
    k_out = theirs(x, mask=mask)
    ours(x)
    _copy_weights(ours, theirs)
    assert_close(ours(x, mask=mask), k_out, FORWARD_RTOL, "LSTM(x, mask=...)")
    # the mask given is the one used: the padded steps' values do not matter
    x_changed = np.where(mask[..., None], x, 9.0).astype("float32")
    np.testing.assert_allclose(ours(x_changed, mask=mask), ours(x, mask=mask), rtol=FORWARD_RTOL)


def test_a_layer_that_hands_compute_mask_to_its_lstm():
    theirs, ours = _custom_layers(keras)[1](), _custom_layers(sn)[1]()
    ids = _padded()
    k_out = theirs(ids)
    ours(ids)
    _copy_weights(ours, theirs)
    assert_close(ours(ids), k_out, FORWARD_RTOL, "embedding + lstm(mask=compute_mask)")


def test_a_layer_of_ones_own_that_makes_a_mask():
    theirs, ours = _custom_layers(keras)[2](VOCAB, 4), _custom_layers(sn)[2](VOCAB, 4)
    ids = np.random.default_rng(1).integers(0, 9, (3, 5)).astype("int32")
    k_out = theirs(ids)
    ours(ids)
    _copy_weights(ours, theirs)
    out = ours(ids)
    assert_close(out, k_out, FORWARD_RTOL, "custom embedding output")
    np.testing.assert_array_equal(np.asarray(ours.compute_mask(ids)), np.asarray(theirs.compute_mask(ids)))
    np.testing.assert_array_equal(out._keras_mask, _keras_mask(k_out))


def _softmax_over_time_model(K):
    SoftmaxOverTime = _custom_layers(K)[3]
    inputs = K.Input((None,), dtype="int32")
    h = K.layers.Embedding(VOCAB, 4, mask_zero=True)(inputs)
    # no bias: a softmax over time ignores a shift, so its gradient is 0 and the bias only rounding noise
    return K.Model(inputs, SoftmaxOverTime()(K.layers.Dense(1, use_bias=False)(h)))


@pytest.mark.filterwarnings("ignore:Layer 'soft")  # both warn that the layer ends the mask
def test_a_mask_consumer_of_ones_own_outputs_and_training():
    theirs, ours = _softmax_over_time_model(keras), _softmax_over_time_model(sn)
    _copy_weights(ours, theirs)
    ids = _padded()
    k_out = np.asarray(theirs(ids))
    out = ours.predict(ids, verbose=0)
    assert_close(out, k_out, FORWARD_RTOL, "SoftmaxOverTime output")
    np.testing.assert_array_equal(out[0, 3:, 0], 0.0)  # padded steps get no weight
    target = np.random.default_rng(2).random((3, 6, 1)).astype("float32")
    for K, model in ((keras, theirs), (sn, ours)):
        model.compile(optimizer=K.optimizers.SGD(0.5), loss="mse")
        model.fit(ids, target, epochs=3, batch_size=3, shuffle=False, verbose=0)
    for w, kw in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, "weights after 3 SGD steps")


def test_a_mask_by_hand_in_a_graph_must_be_the_carried_one():
    inputs = sn.Input((None,), dtype="int32")
    h = sn.layers.Embedding(VOCAB, 4, mask_zero=True)(inputs)
    other = sn.layers.Embedding(VOCAB, 4, mask_zero=True)
    other(inputs)
    with pytest.raises(ValueError, match="must be the mask its input carries"):
        sn.layers.LSTM(3)(h, mask=other.compute_mask(inputs))


def test_the_default_compute_mask_passes_the_mask_on_as_keras():
    mask = _padded() != 0
    x = np.zeros((3, 6, 2), "float32")
    for K in (sn, keras):
        assert np.array_equal(np.asarray(K.layers.Dense(2).compute_mask(x, mask)), mask)
        assert K.layers.Dense(2).compute_mask(x, None) is None
