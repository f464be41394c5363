"""Keras-style layers whose ``call`` returns several tensors, against Keras 3.15.

The subclassing guide's VAE ``Encoder`` (a layer made of layers, traced into a graph) returns
``(z_mean, z_log_var, z)``; the masking guide's ``TemporalSplit`` (run by the gradient tape)
returns ``ops.split(inputs, 2, axis=1)`` and splits the mask the same way. Eagerly they return the
tuple / list of arrays; on KerasTensors one node with several outputs, unpacked as
``a, b = layer(x)``; training through them sends each output's gradient back (the tape and the
traced graph take one upstream gradient per output). Same programs in both libraries, the same
start weights; the VAE's draw is made deterministic (its ``Sampling`` scales epsilon by
``noise=0``: the two libraries draw different random numbers).
"""

from __future__ import annotations

import keras
import numpy as np

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, TRAJECTORY_RTOL, assert_close, same_start
from parity_tests.test_guide_subclassing_keras import vae_classes as guide_vae_classes


def vae_classes(lib):
    """The guide's ``Sampling``, ``Encoder``, ``Decoder`` and ``VariationalAutoEncoder`` (whose
    ``call`` unpacks the encoder's three outputs and adds the KL term by ``self.add_loss``), as
    written there, with small sizes and ``noise`` scaling the draw."""
    L, ops = lib.layers, lib.ops

    Sampling = guide_vae_classes(lib)[0]  # the guide's Sampling, as in test_guide_subclassing_keras

    class Encoder(L.Layer):
        def __init__(self, latent_dim=3, intermediate_dim=8, noise=1.0, name="encoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.dense_proj = L.Dense(intermediate_dim, activation="relu")
            self.dense_mean = L.Dense(latent_dim)
            self.dense_log_var = L.Dense(latent_dim)
            self.sampling = Sampling(noise)

        def call(self, inputs):
            x = self.dense_proj(inputs)
            z_mean = self.dense_mean(x)
            z_log_var = self.dense_log_var(x)
            z = self.sampling((z_mean, z_log_var))
            return z_mean, z_log_var, z

    class Decoder(L.Layer):
        def __init__(self, original_dim, intermediate_dim=8, name="decoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.dense_proj = L.Dense(intermediate_dim, activation="relu")
            self.dense_output = L.Dense(original_dim, activation="sigmoid")

        def call(self, inputs):
            x = self.dense_proj(inputs)
            return self.dense_output(x)

    class VariationalAutoEncoder(lib.Model):
        def __init__(self, original_dim=12, intermediate_dim=8, latent_dim=3, noise=1.0,
                     name="autoencoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.encoder = Encoder(latent_dim=latent_dim, intermediate_dim=intermediate_dim, noise=noise)
            self.decoder = Decoder(original_dim, intermediate_dim=intermediate_dim)

        def call(self, inputs):
            z_mean, z_log_var, z = self.encoder(inputs)
            reconstructed = self.decoder(z)
            # Add KL divergence regularization loss.
            kl_loss = -0.5 * ops.mean(z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1)
            self.add_loss(kl_loss)
            return reconstructed

    return Encoder, VariationalAutoEncoder


def temporal_split(lib):
    """The masking guide's ``TemporalSplit``."""
    class TemporalSplit(lib.layers.Layer):
        def call(self, inputs):
            return lib.ops.split(inputs, 2, axis=1)

        def compute_mask(self, inputs, mask=None):
            if mask is None:
                return None
            return lib.ops.split(mask, 2, axis=1)

    return TemporalSplit


def test_the_vae_encoder_returns_its_three_tensors_eagerly_equal_keras():
    (encoder_class, _), (kencoder_class, _) = vae_classes(sn), vae_classes(keras)
    encoder, kencoder = encoder_class(noise=0.0), kencoder_class(noise=0.0)
    x = np.random.default_rng(0).random((5, 12)).astype("float32")
    kout = kencoder(x)
    encoder(x)  # built: now the same weights
    same_start(encoder, kencoder)
    out, kout = encoder(x), kencoder(x)
    assert type(out) is type(kout) is tuple and len(out) == 3
    for name, a, b in zip(("z_mean", "z_log_var", "z"), out, kout, strict=True):
        assert_close(a, np.asarray(b), FORWARD_RTOL, name)
    np.testing.assert_array_equal(out[2], out[0])  # noise 0: z is z_mean


def test_the_vae_encoder_in_a_functional_model_unpacks_three_outputs():
    (encoder_class, _), (kencoder_class, _) = vae_classes(sn), vae_classes(keras)
    outputs = []
    for lib, enc in ((sn, encoder_class()), (keras, kencoder_class())):
        inputs = lib.Input((12,))
        z_mean, z_log_var, z = enc(inputs)
        outputs.append((z_mean, z_log_var, z))
        assert [tuple(t.shape) for t in (z_mean, z_log_var, z)] == [(None, 3)] * 3
    assert type(outputs[0]) is tuple


def test_the_guide_vae_fit_equal_keras():
    """The guide's subclassed model unpacks the Encoder's three outputs and adds the KL term in
    its own call; fit with MSE: losses, every weight after 8 Adam steps, and model.losses."""
    (_, vae_class), (_, kvae_class) = vae_classes(sn), vae_classes(keras)
    model, kmodel = vae_class(noise=0.0), kvae_class(noise=0.0)
    x = np.random.default_rng(3).random((16, 12)).astype("float32")
    model(x[:2]), kmodel(x[:2])  # built
    same_start(model, kmodel)
    histories = []
    for lib, m in ((sn, model), (keras, kmodel)):
        m.compile(lib.optimizers.Adam(learning_rate=1e-2), loss=lib.losses.MeanSquaredError())
        histories.append(m.fit(x, x, epochs=2, batch_size=4, shuffle=False, verbose=0).history["loss"])
    assert_close(histories[0], histories[1], TRAJECTORY_RTOL, "losses (MSE + KL)")
    assert len(model.get_weights()) == len(kmodel.get_weights()) == 10
    for w, kw in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, "weights after 8 Adam steps")
    assert_close(model.evaluate(x, x, verbose=0), kmodel.evaluate(x, x, verbose=0), TRAJECTORY_RTOL,
                 "evaluate (MSE + KL)")
    model(x), kmodel(x)
    assert len(model.losses) == len(kmodel.losses) == 1
    assert_close(np.asarray(model.losses), np.asarray([float(t) for t in kmodel.losses]), FORWARD_RTOL,
                 "model.losses: the KL term of the last call")
    assert len(model.layers) == 2  # (the add_loss term is no layer of the model, as in Keras)
    # (Keras prints "?" for the layers of a subclassed model built by a call on data; scratchnet
    # prints the shapes it traced, each of a layer with several outputs)
    rows = model._summary_rows(model.layers)[1]
    assert rows[0][:2] == ["encoder (Encoder)", "[(None, 3), (None, 3), (None, 3)]"]


def split_model(lib):
    """The masking guide's TemporalSplit in a functional model: each half (with its half of the
    Embedding's mask) read by its own LSTM."""
    ids = lib.Input((8,), dtype="int32")
    e = lib.layers.Embedding(10, 4, mask_zero=True, name="emb")(ids)
    first_half, second_half = temporal_split(lib)(name="temporal_split")(e)
    ha = lib.layers.LSTM(3, name="lstm_a")(first_half)
    hb = lib.layers.LSTM(3, name="lstm_b")(second_half)
    out = lib.layers.Dense(1, name="out")(lib.layers.concatenate([ha, hb], name="cat"))
    return lib.Model(ids, out), (first_half, second_half)


def padded_ids(n=6, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 10, (n, 8)).astype("int32")
    for row, pad in enumerate(rng.integers(0, 4, n)):
        ids[row, 8 - pad:] = 0  # padding at the end; each half keeps a real step
    ids[0, 4:] = 0  # a row whose second half is all padding
    return ids


def test_temporal_split_eager_returns_a_list_and_splits_the_mask():
    split, ksplit = temporal_split(sn)(), temporal_split(keras)()
    x = np.random.default_rng(1).random((3, 6, 2)).astype("float32")
    out, kout = split(x), ksplit(x)
    assert type(out) is type(kout) is list
    for a, b in zip(out, kout, strict=True):
        assert_close(a, np.asarray(b), FORWARD_RTOL, "halves")
    mask = np.arange(6)[None, :] < np.array([[6], [3], [1]])
    masks = split.compute_mask(x, mask)
    for m, km in zip(masks, ksplit.compute_mask(x, mask), strict=True):
        np.testing.assert_array_equal(m, np.asarray(km))
    masked = split(x, mask=mask)  # each half carries its half of the mask, as in Keras
    np.testing.assert_array_equal(masked[1]._keras_mask, mask[:, 3:])


def test_temporal_split_in_a_functional_model_equal_keras():
    """Outputs (the halves' masks reach the LSTMs), symbolic masks, summary rows, and 6 SGD steps
    (the gradient of each half goes back through the split into the Embedding)."""
    (model, halves), (kmodel, khalves) = split_model(sn), split_model(keras)
    for t, kt in zip(halves, khalves, strict=True):
        assert tuple(t.shape) == tuple(kt.shape) == (None, 4, 4)
        assert tuple(t._keras_mask.shape) == tuple(kt._keras_mask.shape) == (None, 4)
    same_start(model, kmodel)
    ids = padded_ids()
    assert_close(model.predict(ids, verbose=0), kmodel.predict(ids, verbose=0), FORWARD_RTOL, "outputs")
    y = np.random.default_rng(2).random((6, 1)).astype("float32")
    histories = []
    for lib, m in ((sn, model), (keras, kmodel)):
        m.compile(lib.optimizers.SGD(learning_rate=0.1), loss="mse")
        histories.append(m.fit(ids, y, epochs=2, batch_size=2, shuffle=False, verbose=0).history["loss"])
    assert_close(histories[0], histories[1], TRAJECTORY_RTOL, "losses")
    for w, kw in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, "weights after 6 SGD steps")
    rows = {row[0]: row for row in model._summary_rows(model.layers)[1]}
    assert rows["temporal_split (TemporalSplit)"][1] == "[(None, 4, 4), (None, 4, 4)]"  # Keras' row
    assert rows["lstm_b (LSTM)"][3] == "temporal_split[0][1]"


def test_temporal_split_model_saved_by_scratchnet_loads_in_both(tmp_path):
    """The node's second output is written as Keras writes it (``["temporal_split", 0, 1]``)."""
    model, _ = split_model(sn)
    ids = padded_ids()
    model.save(tmp_path / "split.keras")
    custom = {"TemporalSplit": type(model.get_layer("temporal_split"))}
    again = sn.models.load_model(tmp_path / "split.keras", custom_objects=custom)
    kmodel = keras.models.load_model(tmp_path / "split.keras",
                                     custom_objects={"TemporalSplit": temporal_split(keras)})
    expected = model.predict(ids, verbose=0)
    np.testing.assert_array_equal(again.predict(ids, verbose=0), expected)
    assert_close(expected, np.asarray(kmodel.predict(ids, verbose=0)), FORWARD_RTOL, "Keras reading it")
