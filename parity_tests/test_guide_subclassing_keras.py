"""Keras' developer guide "Making new layers and models via subclassing"
(keras.io/guides/making_new_layers_and_models_via_subclassing): what
test_keras_style_layers_keras.py and test_subclassing_keras.py do not already cover, as the same
small programs in Keras 3.15 and in scratchnet (the import changed): ``layer.losses`` of a layer
made of layers (the inner ``add_loss`` collected, and reset at each call), a weight
regularizer's term in ``layer.losses``, ``add_loss`` in a fit (the reported loss too, and with no
loss in ``compile``),
``Layer.from_config`` with and without ``super().get_config()``, a ``training`` argument, and the
VAE's parts: a ``Sampling`` layer that draws ``random.normal`` for a batch of unknown size, the
KL term added with ``add_loss``, and a fit from the same start weights. docs/keras-guides.md
lists what runs and what is out of scope (the guide's Encoder returns three tensors)."""

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, TRAJECTORY_RTOL, assert_close, same_start

LIBS = pytest.mark.parametrize("lib", [keras, sn], ids=["keras", "scratchnet"])


def regularization_classes(lib):
    class ActivityRegularizationLayer(lib.layers.Layer):
        def __init__(self, rate=1e-2):
            super().__init__()
            self.rate = rate

        def call(self, inputs):
            self.add_loss(self.rate * lib.ops.mean(inputs))
            return inputs

    class OuterLayer(lib.layers.Layer):
        """Its only loss is the inner layer's."""

        def __init__(self, rate=1e-2, units=None):
            super().__init__()
            self.activity_reg = ActivityRegularizationLayer(rate)
            self.dense = None if units is None else lib.layers.Dense(
                units, kernel_regularizer=lib.regularizers.l2(1e-3))

        def call(self, inputs):
            return self.activity_reg(inputs if self.dense is None else self.dense(inputs))

    return ActivityRegularizationLayer, OuterLayer


def floats(values) -> list[float]:
    return [float(np.asarray(v)) for v in values]


# ---------------------------------------------------------------------------- add_loss, losses
@LIBS
def test_losses_of_a_layer_made_of_layers_are_the_last_calls(lib):
    _, OuterLayer = regularization_classes(lib)
    layer = OuterLayer()
    assert len(layer.losses) == 0  # never called
    layer(np.ones((1, 1), "float32"))
    np.testing.assert_allclose(floats(layer.losses), [0.01], rtol=FORWARD_RTOL)
    layer(np.full((2, 1), 3.0, "float32"))
    np.testing.assert_allclose(floats(layer.losses), [0.03], rtol=FORWARD_RTOL)  # reset, not added


def test_a_weight_regularizer_term_in_layer_losses_equal_keras():
    layers = []
    for lib in (sn, keras):
        _, OuterLayer = regularization_classes(lib)
        layers.append(OuterLayer(rate=0.5, units=4))
    layer, klayer = layers
    x = np.random.default_rng(0).normal(size=(3, 2)).astype("float32")
    klayer(x)
    layer(x)
    layer.set_weights(klayer.get_weights())
    out, kout = layer(x), klayer(x)
    assert_close(out, np.asarray(kout), FORWARD_RTOL, "output")
    losses, klosses = floats(layer.losses), floats(klayer.losses)
    assert len(losses) == len(klosses) == 2  # the add_loss term, then the kernel's L2 term
    assert_close(losses, klosses, FORWARD_RTOL, "layer.losses")
    kernel = klayer.get_weights()[0]
    assert_close(losses[1], 1e-3 * np.sum(kernel**2), FORWARD_RTOL, "1e-3 * sum(kernel**2)")


def test_add_loss_inside_a_layer_joins_fit_and_model_losses_as_in_keras():
    """A Dense then the regularizing layer, both inside one layer; the fit's reported loss is
    the MSE plus the inner add_loss term, and so are the updates."""
    results = []
    x = np.arange(12, dtype="float32").reshape(4, 3) / 10
    for lib in (sn, keras):
        _, OuterLayer = regularization_classes(lib)
        inputs = lib.Input((3,))
        model = lib.Model(inputs, OuterLayer(rate=0.5, units=3)(inputs))
        model.set_weights([np.eye(3, dtype="float32") * 0.5, np.zeros(3, "float32")])
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
        history = model.fit(x, x, epochs=2, batch_size=2, shuffle=False, verbose=0).history
        model(x)
        results.append((history["loss"], model.get_weights(), floats(model.losses)))
    (loss, weights, losses), (kloss, kweights, klosses) = results
    assert_close(loss, kloss, TRAJECTORY_RTOL, "reported loss (MSE + add_loss)")
    for w, kw in zip(weights, kweights, strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, "weights after 4 SGD steps")
    assert_close(losses, klosses, FORWARD_RTOL, "model.losses")


@pytest.mark.parametrize("first_loss", [None, "mse"], ids=["never_a_loss", "mse_then_none"])
def test_compile_without_a_loss_as_in_keras(first_loss):
    """``compile(optimizer)`` alone: the add_loss term is the whole loss. The guide compiles
    with "mse", fits, then compiles with the optimizer only: Keras keeps the earlier loss then
    (its compile replaces the loss only when one is given), and so does scratchnet. Without any
    term, both refuse to fit ("No loss to compute")."""
    results = []
    x = np.random.default_rng(4).random((8, 3)).astype("float32")
    for lib in (sn, keras):
        ActivityRegularizationLayer, _ = regularization_classes(lib)
        inputs = lib.Input((3,))
        model = lib.Model(inputs, ActivityRegularizationLayer(0.5)(lib.layers.Dense(3)(inputs)))
        model.set_weights([np.eye(3, dtype="float32"), np.zeros(3, "float32")])
        if first_loss is not None:
            model.compile(optimizer=lib.optimizers.Adam(0.01), loss=first_loss)
            model.fit(x, x, batch_size=4, epochs=1, shuffle=False, verbose=0)
        model.compile(optimizer=lib.optimizers.Adam(0.01))
        losses = model.fit(x, x, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"]
        results.append((losses, model.get_weights(), model.evaluate(x, x, verbose=0)))
        plain = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2)])
        plain.compile(optimizer="sgd")
        with pytest.raises(ValueError, match="No loss to compute"):
            plain.fit(x, x[:, :2], verbose=0)
    (losses, weights, score), (klosses, kweights, kscore) = results
    assert_close(losses, klosses, TRAJECTORY_RTOL, "losses")
    for w, kw in zip(weights, kweights, strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, "weights after the Adam steps")
    assert_close(score, kscore, TRAJECTORY_RTOL, "evaluate()")


# ---------------------------------------------------------------------------- get_config, training
def linear_class(lib, with_base_config: bool):
    class Linear(lib.layers.Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")

        def call(self, inputs):
            return lib.ops.matmul(inputs, self.w)

        def get_config(self):
            config = super().get_config() if with_base_config else {}
            config.update({"units": self.units})
            return config

    return Linear


@pytest.mark.parametrize("with_base_config", [False, True], ids=["units_only", "with_super"])
def test_layer_from_config_equal_keras(with_base_config):
    layer = linear_class(sn, with_base_config)(64, **({"name": "lin"} if with_base_config else {}))
    klayer = linear_class(keras, with_base_config)(64, **({"name": "lin"} if with_base_config else {}))
    config, kconfig = layer.get_config(), klayer.get_config()
    assert config["units"] == kconfig["units"] == 64
    assert ("name" in config) == ("name" in kconfig) == with_base_config
    for cls, cfg in ((type(layer), config), (type(layer), kconfig), (type(klayer), config)):
        new = cls.from_config(cfg)
        assert new.units == 64 and (not with_base_config or new.name == "lin")
    with pytest.raises(TypeError, match="Error when deserializing class 'Linear'"):
        type(layer).from_config({**config, "bad_argument": 1})
    with pytest.raises(TypeError, match="Error when deserializing class 'Linear'"):
        type(klayer).from_config({**kconfig, "bad_argument": 1})


def test_a_training_argument_switches_the_branch_as_in_keras():
    def dropout_class(lib):
        class CustomDropout(lib.layers.Layer):
            def __init__(self, rate, **kwargs):
                super().__init__(**kwargs)
                self.rate = rate

            def call(self, inputs, training=False):
                if training:
                    return lib.random.dropout(inputs, rate=self.rate)
                return inputs

        return CustomDropout

    outs = []
    for lib in (sn, keras):
        CustomDropout = dropout_class(lib)
        inputs = lib.Input((200,))
        model = lib.Model(inputs, CustomDropout(0.5)(inputs))
        x = np.ones((4, 200), "float32")
        outs.append((np.asarray(model(x)), np.asarray(model(x, training=True))))
    for inference, training in outs:
        np.testing.assert_array_equal(inference, np.ones((4, 200)))
        assert set(np.unique(training)) == {0.0, 2.0}  # kept entries scaled by 1 / (1 - rate)
        assert 0.4 < np.mean(training == 0.0) < 0.6


# ---------------------------------------------------------------------------- the VAE
def vae_classes(lib):
    """The guide's Sampling and KL term, in a model whose encoder is made of plain layers (the
    guide's own Encoder, which returns three tensors, and VariationalAutoEncoder are in
    test_several_outputs_keras.py). ``noise=0`` makes the draw
    vanish, so the two libraries' different random streams can be left out of a trajectory."""
    L = lib.layers

    class Sampling(L.Layer):
        def __init__(self, noise=1.0, **kwargs):
            super().__init__(**kwargs)
            self.noise = noise

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch, dim = lib.ops.shape(z_mean)[0], lib.ops.shape(z_mean)[1]
            epsilon = lib.random.normal(shape=(batch, dim)) * self.noise
            return z_mean + lib.ops.exp(0.5 * z_log_var) * epsilon

    class KLDivergence(L.Layer):
        def call(self, inputs):
            z_mean, z_log_var = inputs
            terms = z_log_var - lib.ops.square(z_mean) - lib.ops.exp(z_log_var) + 1
            self.add_loss(-0.5 * lib.ops.mean(terms))
            return z_mean

    def vae(original_dim=12, intermediate_dim=8, latent_dim=3, noise=1.0):
        inputs = lib.Input((original_dim,))
        h = L.Dense(intermediate_dim, activation="relu", name="enc_proj")(inputs)
        z_mean = L.Dense(latent_dim, name="z_mean")(h)
        z_log_var = L.Dense(latent_dim, name="z_log_var")(h)
        z = Sampling(noise, name="sampling")([z_mean, KLDivergence(name="kl")([z_mean, z_log_var])])
        h = L.Dense(intermediate_dim, activation="relu", name="dec_proj")(z)
        return lib.Model(inputs, L.Dense(original_dim, activation="sigmoid", name="dec_out")(h))

    return Sampling, vae


def test_vae_sampling_draws_per_batch_and_the_kl_term_equal_keras():
    (_, vae), (_, kvae) = vae_classes(sn), vae_classes(keras)
    model, kmodel = vae(), kvae()
    same_start(model, kmodel)
    x = np.random.default_rng(2).random((6, 12)).astype("float32")
    out = model(x)
    assert np.shape(out) == tuple(kmodel(x).shape) == (6, 12)
    assert not np.array_equal(out, model(x))  # a fresh draw at each call, as in Keras
    assert_close(floats(model.losses), floats(kmodel.losses), FORWARD_RTOL, "the KL term (no draw in it)")
    assert np.shape(model(x[:2])) == (2, 12)  # any batch size


def test_vae_fit_with_the_kl_term_equal_keras():
    (_, vae), (_, kvae) = vae_classes(sn), vae_classes(keras)
    model, kmodel = vae(noise=0.0), kvae(noise=0.0)
    same_start(model, kmodel)
    x = np.random.default_rng(3).random((16, 12)).astype("float32")
    histories = []
    for lib, m in ((sn, model), (keras, kmodel)):
        m.compile(lib.optimizers.Adam(learning_rate=1e-2), loss=lib.losses.MeanSquaredError())
        histories.append(m.fit(x, x, epochs=2, batch_size=4, shuffle=False, verbose=0).history["loss"])
    assert_close(histories[0], histories[1], TRAJECTORY_RTOL, "losses (MSE + KL)")
    for w, kw in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, "weights after 8 Adam steps")
