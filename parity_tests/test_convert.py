"""to_keras / from_keras round-trip every supported layer, loss and optimizer exactly; the Keras
twins in tfnet.models equal to_keras of their scratchnet models layer by layer."""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import random_biases
from tfnet import convert

L = sn.layers

class _KerasOnlyInit(keras.initializers.Initializer):
    """An initializer scratchnet has no twin of."""

    def __call__(self, shape, dtype=None):
        return keras.ops.zeros(shape, dtype)


class _KerasOnlyRegularizer(keras.regularizers.Regularizer):
    """A regularizer of the user's own."""

    def __call__(self, w):
        return keras.ops.sum(w) * 0.0

    def get_config(self):
        return {}


def _keras_only_activation(x):
    """An activation function of the user's own."""
    return x


class _KerasOnly(keras.constraints.Constraint):
    """A constraint of the user's own, which scratchnet cannot know."""

    def __call__(self, w):
        return w



def every_layer_models():
    """Small models that together use every supported layer and option."""
    return {
        "conv_stack": sn.Sequential([
            L.Input((9, 7, 2)),
            L.Conv2D(3, (2, 3), strides=(2, 1), padding="same", activation="relu"),
            L.Conv2D(2, 3, dilation_rate=(2, 1), use_bias=False, activation="tanh"),
            L.MaxPooling2D((2, 1), strides=(1, 2), padding="same"),
            L.Flatten(),
            L.Dropout(0.25, seed=3),
            L.Dense(5, activation="sigmoid", kernel_initializer="he_normal",
                    bias_initializer="ones"),
            L.Activation("tanh"),
            L.Dense(4, kernel_initializer={"name": "uniform",
                                           "config": {"minval": -0.1, "maxval": 0.2}}),
            L.Softmax(),
        ], seed=1, name="conv_stack"),
        "dense_stack": sn.Sequential([
            L.Input((6,)),
            L.Dense(4, activation="linear", kernel_initializer="glorot_normal"),
            L.Activation("relu"),
            L.Dense(3, activation="softmax", use_bias=False, kernel_initializer="he_uniform"),
        ], seed=2, name="dense_stack"),
    }


@pytest.mark.parametrize("name", sorted(every_layer_models()))
def test_round_trip_copies_weights_and_configs_exactly(name):
    model = random_biases(every_layer_models()[name])
    kmodel = tfnet.to_keras(model)
    assert [type(k).__name__ for k in kmodel.layers] == [type(s).__name__ for s in model.layers]
    for ws, wk in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        assert ws.dtype == wk.dtype and np.array_equal(ws, wk)
    back = tfnet.from_keras(kmodel)
    assert back.input_shape == model.input_shape
    assert [type(s) for s in back.layers] == [type(s) for s in model.layers]
    for original, copy in zip(model.layers, back.layers, strict=True):
        assert copy.get_config() == original.get_config()
    for ws, wb in zip(model.get_weights(), back.get_weights(), strict=True):
        assert np.array_equal(ws, wb)


def test_input_layer_maps_both_ways():
    klayer = convert.layer_to_keras(L.InputLayer((4, 3)))  # the layer behind L.Input((4, 3))
    assert isinstance(klayer, keras.layers.InputLayer) and tuple(klayer.batch_shape) == (None, 4, 3)
    assert convert.layer_from_keras(klayer).shape == (4, 3)


LOSSES = [sn.losses.SparseCategoricalCrossentropy(from_logits=True),
          sn.losses.SparseCategoricalCrossentropy(),
          sn.losses.CategoricalCrossentropy(from_logits=True),
          sn.losses.CategoricalCrossentropy(), sn.losses.MeanSquaredError()]
OPTIMIZERS = [sn.optimizers.SGD(), sn.optimizers.SGD(0.1, momentum=0.9),
              sn.optimizers.SGD(0.05, momentum=0.5, nesterov=True, clipvalue=0.5),
              sn.optimizers.Adam(), sn.optimizers.Adam(0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-4,
                                                       amsgrad=True, clipnorm=1.0),
              sn.optimizers.Adam(global_clipnorm=2.0, weight_decay=0.01)]


@pytest.mark.parametrize("loss", LOSSES, ids=lambda loss: f"{loss.name}-{loss.get_config()}")
def test_compiled_loss_maps_both_ways(loss):
    model = sn.Sequential([L.Input((3,)), L.Dense(2)], seed=0)
    model.compile(optimizer="sgd", loss=loss, metrics=["accuracy"])
    kmodel = tfnet.to_keras(model)
    assert kmodel.loss.name == loss.name
    assert kmodel.loss.get_config().get("from_logits", False) == loss.get_config().get(
        "from_logits", False)
    assert kmodel.get_compile_config()["jit_compile"] is False
    assert kmodel.get_compile_config()["metrics"] == ["accuracy"]
    back = tfnet.from_keras(kmodel)
    assert type(back.loss) is type(loss) and back.loss.get_config() == loss.get_config()
    assert back.metric_names == ["accuracy"]


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=lambda o: f"{o.name}-{sorted(o.get_config().items())}")
def test_optimizer_maps_both_ways_with_fresh_state(opt):
    model = sn.Sequential([L.Input((3,)), L.Dense(2)], seed=0)
    model.compile(optimizer=opt, loss="mse")
    model.train_step(np.ones((2, 3)), np.zeros((2, 2)))  # scratchnet's optimizer now has state
    kopt = tfnet.to_keras(model).optimizer
    assert int(kopt.iterations) == 0  # fresh
    kconfig = kopt.get_config()
    for key, value in opt.get_config().items():
        if isinstance(value, float):  # Keras keeps learning_rate in a float32 variable
            assert kconfig[key] == pytest.approx(value, rel=1e-7), key
        else:
            assert kconfig[key] == value, key
    back = convert.optimizer_from_keras(kopt)
    assert type(back) is type(opt)
    for key, value in opt.get_config().items():
        assert back.get_config()[key] == pytest.approx(value, rel=1e-7) if isinstance(value, float) \
            else back.get_config()[key] == value


def test_uncompiled_model_gives_uncompiled_keras_model():
    kmodel = tfnet.to_keras(sn.models.digits_mlp())
    assert not kmodel.compiled
    assert not tfnet.from_keras(kmodel).compiled


class _KerasOnlyLayer(keras.layers.Layer):
    """A Keras layer class tfnet has no mapping for."""

    def call(self, x):
        return x


def test_from_keras_names_the_unmappable_layer():
    kmodel = keras.Sequential([keras.Input((4,)), _KerasOnlyLayer(name="emb_here")])
    with pytest.raises(ValueError, match=r'"emb_here" of type _KerasOnlyLayer'):
        tfnet.from_keras(kmodel)


@pytest.mark.parametrize("klayer, pattern", [
    (keras.layers.Dense(3, activation=_keras_only_activation, name="d"),
     r'"d" uses activation ._keras_only_activation.'),
    (keras.layers.Dense(3, kernel_constraint=_KerasOnly(), name="d"),
     r'"d" uses kernel_constraint ._KerasOnly.'),
    (keras.layers.Dense(3, activity_regularizer=_KerasOnlyRegularizer(), name="d"),
     r'"d" uses regularizer _KerasOnlyRegularizer'),
    (keras.layers.Dense(3, kernel_initializer=_KerasOnlyInit(), name="d"), r"_KerasOnlyInit"),
    (keras.layers.Softmax(axis=1, name="s"), r'"s" takes softmax over axis=1'),
])
def test_from_keras_refuses_options_scratchnet_lacks(klayer, pattern):
    kmodel = keras.Sequential([keras.Input((4, 5)), klayer])
    with pytest.raises(ValueError, match=pattern):
        tfnet.from_keras(kmodel)


def test_from_keras_refuses_unmappable_loss_and_optimizer():
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    class HandMadeSGD(keras.optimizers.SGD):  # a user's own optimizer: scratchnet has no twin
        pass

    kmodel.compile(optimizer=HandMadeSGD(), loss="mse")
    with pytest.raises(ValueError, match="HandMadeSGD"):
        tfnet.from_keras(kmodel)
    kmodel.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy(axis=0))
    with pytest.raises(ValueError, match="axis=-1, received axis=0"):
        tfnet.from_keras(kmodel)


def test_to_keras_names_the_unmappable_layer():
    class Scale(L.Layer):
        def forward(self, x, training=False):
            return 2 * x

        def backward(self, dy):
            return 2 * dy

    model = sn.Sequential([L.Input((3,)), Scale(name="scale_me")])
    with pytest.raises(ValueError, match=r'"scale_me" of type Scale has no Keras mapping'):
        tfnet.to_keras(model)


def test_register_layer_extends_both_directions():
    """Another module adds its own mapping without touching convert.py."""

    class Double(L.Layer):
        def forward(self, x, training=False):
            return 2 * x

        def backward(self, dy):
            return 2 * dy

    class KerasDouble(keras.layers.Layer):
        def call(self, x):
            return 2 * x

    tfnet.register_layer(Double, KerasDouble, lambda layer, **kw: KerasDouble(**kw),
                         lambda klayer, **kw: Double(**kw))
    try:
        model = sn.Sequential([L.Input((3,)), L.Dense(2), Double(name="twice")], seed=0)
        kmodel = tfnet.to_keras(model)
        assert isinstance(kmodel.layers[-1], KerasDouble) and kmodel.layers[-1].name == "twice"
        x = np.arange(6, dtype="float32").reshape(2, 3)
        np.testing.assert_allclose(model(x), kmodel(x), rtol=1e-6)
        assert isinstance(tfnet.from_keras(kmodel).layers[-1], Double)
    finally:
        convert._LAYERS.pop(Double)
        convert._KERAS_LAYERS.pop(KerasDouble)


# ------------------------------------------------------------------ the twins in tfnet.models
TWINS = {
    "digits_cnn": ((), (1, 8, 8, 1)),
    "digits_mlp": ((), (1, 8, 8, 1)),
    "small_cnn": ((), (1, 32, 32, 3)),
    "rps_cnn": ((), (1, 64, 64, 3)),
    "talk_cnn": ((), (1, 150, 150, 3)),
}


def _config_without_name(klayer):
    return {k: v for k, v in klayer.get_config().items() if k != "name"}


@pytest.mark.parametrize("name", sorted(TWINS))
def test_keras_twin_equals_to_keras_layer_by_layer(name):
    smodel = getattr(sn.models, name)()
    twin = getattr(tfnet.models, name)()
    converted = tfnet.to_keras(smodel)
    assert twin.name == converted.name == smodel.name
    assert tuple(twin.inputs[0].shape) == tuple(converted.inputs[0].shape)
    assert len(twin.layers) == len(converted.layers)
    for kt, kc in zip(twin.layers, converted.layers, strict=True):
        assert type(kt) is type(kc)
        assert _config_without_name(kt) == _config_without_name(kc), kt.name
        assert [w.shape for w in kt.weights] == [w.shape for w in kc.weights]
    assert twin.count_params() == converted.count_params() == smodel.count_params()
    # Same weights in, same numbers out.
    twin.set_weights(smodel.get_weights())
    x = np.random.default_rng(0).random(TWINS[name][1], dtype=np.float32)
    np.testing.assert_allclose(smodel.predict(x), twin.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_weighted_metrics_map_both_ways():
    """to_keras/from_keras carry weighted_metrics: Keras evaluates the twin with sample weights to
    the same figures (float32 sums: 1e-6), and the model back from Keras to scratchnet's own."""
    model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(1, activation="sigmoid")], seed=0)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy", sn.metrics.BinaryAccuracy(threshold=0.3)])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype("float32")
    y = (np.arange(8) % 2).astype("float32")[:, None]
    w = np.linspace(0.1, 2.0, 8)
    ours = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    kmodel = tfnet.to_keras(model)
    theirs = kmodel.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    assert sorted(theirs) == sorted(ours) == ["accuracy", "binary_accuracy", "loss", "weighted_accuracy"]
    for key in ours:
        np.testing.assert_allclose(theirs[key], ours[key], rtol=1e-6, err_msg=key)
    back = tfnet.from_keras(kmodel)
    assert back.weighted_metrics[1].threshold == 0.3
    assert back.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True) == ours
