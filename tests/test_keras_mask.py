"""Keras' masks outside a graph and on KerasTensors (scratchnet/layers/masking.py): an eager
output carries ``_keras_mask``, the next layer reads it, ``mask=`` overrides it; a
``call(inputs, mask=None)`` of one's own receives the mask, in a graph and eagerly; a KerasTensor
carries a symbolic mask; a mask given by hand in a graph must be the one carried."""

import numpy as np
import pytest

import scratchnet as sn

L = sn.layers
IDS = np.array([[3, 1, 0, 0], [2, 5, 4, 0]])


def test_an_eager_embedding_output_carries_its_mask_and_a_plain_one_none():
    out = L.Embedding(6, 3, mask_zero=True)(IDS)
    assert isinstance(out, L.masking.ArrayWithMask)
    np.testing.assert_array_equal(out._keras_mask, IDS != 0)
    assert getattr(L.Embedding(6, 3)(IDS), "_keras_mask", None) is None
    assert (out * 2)._keras_mask is None and type(np.asarray(out)) is np.ndarray


def test_the_next_layer_reads_the_carried_mask_and_mask_overrides_it():
    emb, lstm = L.Embedding(6, 3, mask_zero=True), L.LSTM(2)
    h = emb(IDS)
    carried = lstm(h)
    np.testing.assert_allclose(carried, lstm(np.asarray(h), mask=IDS != 0), rtol=1e-6)
    assert not np.allclose(carried, lstm(np.asarray(h)))  # without a mask the padding counts
    everything = np.ones_like(IDS, bool)
    np.testing.assert_allclose(lstm(h, mask=everything), lstm(np.asarray(h)), rtol=1e-6)


def test_a_step_wise_layer_passes_the_mask_on_and_pooling_ends_it():
    h = L.Embedding(6, 3, mask_zero=True)(IDS)
    np.testing.assert_array_equal(L.Dense(2)(h)._keras_mask, IDS != 0)
    pooled = L.GlobalAveragePooling1D()(h)
    assert getattr(pooled, "_keras_mask", None) is None
    np.testing.assert_allclose(pooled[0], np.asarray(h)[0, :2].mean(axis=0), rtol=1e-6)


class _MaskedMean(L.Layer):
    """A mask consumer of one's own: the mean over the real steps. (It ends the mask: Keras and
    scratchnet warn that it does not support masking, as it sets no ``supports_masking``.)"""

    def call(self, inputs, mask=None):
        keep = sn.ops.expand_dims(sn.ops.cast(mask, "float32"), -1)
        return sn.ops.sum(inputs * keep, axis=1) / sn.ops.sum(keep, axis=1)


@pytest.mark.filterwarnings("ignore:Layer '__masked_mean'")
def test_a_call_with_a_mask_argument_receives_the_mask_eagerly_and_in_a_graph():
    x = np.random.default_rng(0).standard_normal((2, 4, 3)).astype("float32")
    mask = IDS != 0
    expected = np.stack([x[0, :2].mean(0), x[1, :3].mean(0)])
    np.testing.assert_allclose(_MaskedMean()(x, mask=mask), expected, rtol=1e-6)
    inputs = sn.Input((4,), dtype="int32")
    emb = L.Embedding(6, 3, mask_zero=True)
    model = sn.Model(inputs, _MaskedMean()(emb(inputs)))
    table = emb.get_weights()[0]
    np.testing.assert_allclose(model.predict(IDS, verbose=0),
                               np.stack([table[[3, 1]].mean(0), table[[2, 5, 4]].mean(0)]), rtol=1e-6)


@pytest.mark.filterwarnings("ignore:Layer '__masked_mean'")
def test_the_gradient_flows_through_a_masked_call_of_ones_own():
    inputs = sn.Input((4,), dtype="int32")
    emb = L.Embedding(6, 3, mask_zero=True)
    model = sn.Model(inputs, L.Dense(1)(_MaskedMean()(emb(inputs))))
    model.compile(optimizer=sn.optimizers.SGD(0.1), loss="mse")
    before = emb.get_weights()[0].copy()
    model.fit(IDS, np.ones((2, 1), "float32"), epochs=1, batch_size=2, verbose=0)
    moved = np.any(emb.get_weights()[0] != before, axis=1)
    assert moved.tolist() == [False, True, True, True, True, True]  # padding id 0 gets no gradient


def test_keras_tensors_carry_a_symbolic_mask():
    inputs = sn.Input((None,), dtype="int32")
    h = L.Embedding(6, 3, mask_zero=True)(inputs)
    assert h._keras_mask.shape == (None, None) and h._keras_mask.dtype == "bool"
    assert L.Dense(2)(h)._keras_mask is h._keras_mask
    assert getattr(L.GlobalAveragePooling1D()(h), "_keras_mask", None) is None
    assert getattr(L.Embedding(6, 3)(inputs), "_keras_mask", None) is None
    assert L.LSTM(2, return_sequences=True)(h)._keras_mask is h._keras_mask


def test_a_mask_by_hand_in_a_graph_must_be_the_carried_one():
    inputs = sn.Input((None,), dtype="int32")
    emb = L.Embedding(6, 3, mask_zero=True)
    h = emb(inputs)
    L.LSTM(2)(h, mask=emb.compute_mask(inputs))  # the same mask: accepted
    with pytest.raises(ValueError, match='layer "lstm_1" .* must be the mask its input carries'):
        L.LSTM(2, name="lstm_1")(h, mask=L.Embedding(6, 3, mask_zero=True).compute_mask(sn.Input((None,))))


def test_the_default_compute_mask_passes_the_mask_through_as_keras():
    mask = IDS != 0
    x = np.zeros((2, 4, 3), "float32")
    assert L.Dense(2).compute_mask(x, mask) is mask and L.Dense(2).compute_mask(x) is None

    class Doubler(L.Layer):  # no supports_masking: the default is there, but the mask is dropped
        def call(self, inputs):
            return inputs * 2.0

    h = L.Embedding(6, 3, mask_zero=True)(IDS)
    with pytest.warns(UserWarning, match="does not support masking"):
        assert getattr(Doubler()(h), "_keras_mask", None) is None

    class Shifter(L.Layer):  # supports_masking and super().compute_mask: the mask goes on
        def __init__(self):
            super().__init__()
            self.supports_masking = True

        def call(self, inputs):
            return inputs + 1.0

        def compute_mask(self, inputs, mask=None):
            return super().compute_mask(inputs, mask)

    np.testing.assert_array_equal(Shifter()(h)._keras_mask, mask)
