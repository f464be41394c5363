"""Keras names a course program meets beside fit: ``keras.utils.to_categorical``,
``train_on_batch`` / ``test_on_batch`` / ``predict_on_batch``, ``get_layer``, a layer's
``get_weights`` / ``set_weights``, ``Sequential.pop`` and ``keras.models.load_model``, each against
Keras 3.15 on twins with the same weights. Tolerances from parity_tests/driver.py: one step's loss
and outputs FORWARD_RTOL, weights after a step TRAJECTORY_RTOL."""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, TRAJECTORY_RTOL, assert_close

L = sn.layers


@pytest.mark.parametrize("labels, num_classes", [
    ([0, 1, 2, 1], None),
    (np.array([[2], [0], [1]]), None),  # (N, 1): the last axis is dropped, as Keras does
    (np.array([[0, 3], [1, 2]]), None),
    (np.array([1, 0]), 5),
    (np.array([2.0, 0.0]), None),  # integral floats are class ids too
])
def test_to_categorical_equals_keras(labels, num_classes):
    ours = sn.utils.to_categorical(labels, num_classes)
    theirs = keras.utils.to_categorical(labels, num_classes)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("labels, num_classes, message", [
    ([0, 3], 3, r"class id 3 is outside \[0, 2\]"),
    ([0, -1], 3, r"class id -1 is outside"),  # Keras would wrap it round to the last class
    ([0.5, 1.0], None, "expected integer class ids, received the value 0.5"),
    ([], None, "at least one class id"),
    ([0, 1], 0, "num_classes to be a positive integer"),
])
def test_to_categorical_refuses_what_keras_gets_wrong(labels, num_classes, message):
    with pytest.raises(ValueError, match=message):
        sn.utils.to_categorical(labels, num_classes)


def _twins():
    model = sn.Sequential([L.Input((6,)), L.Dense(5, activation="relu", name="hidden"),
                           L.Dense(3, name="logits")], seed=2)
    model.compile(optimizer=sn.optimizers.SGD(0.1), metrics=["accuracy"],
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, tfnet.to_keras(model)


def _batch(seed=0, n=8):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)).astype(np.float32), rng.integers(0, 3, n)


def test_on_batch_calls_equal_keras():
    smodel, kmodel = _twins()
    x, y = _batch()
    for step in range(3):  # metrics restart at each call, as in Keras
        ours, theirs = smodel.train_on_batch(x, y), kmodel.train_on_batch(x, y)
        assert len(ours) == len(theirs) == 2
        assert_close(ours, theirs, FORWARD_RTOL, f"train_on_batch [loss, accuracy], call {step}")
    for ws, wk in zip(smodel.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(ws, wk, TRAJECTORY_RTOL, "weights after three train_on_batch calls")
    xv, yv = _batch(seed=1)
    ours = smodel.test_on_batch(xv, yv, return_dict=True)
    theirs = kmodel.test_on_batch(xv, yv, return_dict=True)
    assert sorted(ours) == sorted(theirs) == ["accuracy", "loss"]
    for key in ours:
        assert_close(ours[key], theirs[key], FORWARD_RTOL, f"test_on_batch {key}")
    assert_close(smodel.predict_on_batch(xv), np.asarray(kmodel.predict_on_batch(xv)), FORWARD_RTOL,
                 "predict_on_batch")
    weights = {0: 3.0, 2: 0.5}  # class_weight, as Keras turns it into sample weights
    assert_close(smodel.train_on_batch(x, y, class_weight=weights),
                 kmodel.train_on_batch(x, y, class_weight=weights), FORWARD_RTOL,
                 "train_on_batch with class_weight")


def test_get_layer_and_layer_weights_equal_keras():
    smodel, kmodel = _twins()
    for name, index in (("hidden", 0), ("logits", 1)):
        assert smodel.get_layer(name) is smodel.get_layer(index=index)
        for ws, wk in zip(smodel.get_layer(name).get_weights(), kmodel.get_layer(name).get_weights(),
                          strict=True):
            np.testing.assert_array_equal(ws, wk)
    new = [np.full((5, 3), 0.1, np.float32), np.arange(3, dtype=np.float32)]
    smodel.get_layer("logits").set_weights(new)
    kmodel.get_layer("logits").set_weights(new)
    x, _ = _batch()
    assert_close(smodel.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL,
                 "predictions after layer.set_weights")
    with pytest.raises(ValueError, match=r"No such layer: nope\. Existing layers are: "
                                         r"\['hidden', 'logits'\]"):
        smodel.get_layer("nope")
    with pytest.raises(ValueError, match="index 2 but model only has 2 layers"):
        smodel.get_layer(index=2)
    with pytest.raises(ValueError, match="Provide only a layer name or a layer index"):
        smodel.get_layer("logits", index=0)  # Keras refuses both at once too
    with pytest.raises(ValueError, match='weight "logits/kernel" expects shape \\(5, 3\\)'):
        smodel.get_layer("logits").set_weights([np.zeros((3, 5)), np.zeros(3)])


def test_pop_equals_keras():
    smodel, kmodel = _twins()
    assert smodel.pop().name == kmodel.pop().name == "logits"
    x, _ = _batch()
    assert smodel.output_shape == kmodel.output_shape == (None, 5)
    assert_close(smodel.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL,
                 "predictions after pop")
    smodel.pop()
    with pytest.raises(TypeError, match="There are no layers in the model"):
        smodel.pop()


def test_keras_models_names(tmp_path):
    _, kmodel = _twins()
    kmodel.save(tmp_path / "k.keras")
    loaded = sn.models.load_model(tmp_path / "k.keras")  # keras.models.load_model, import changed
    assert isinstance(loaded, sn.models.Sequential) and isinstance(loaded, sn.models.Model)
    x, _ = _batch()
    assert_close(loaded.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL,
                 "a Keras file opened with sn.models.load_model")


@pytest.mark.parametrize("cls, y_true, y_pred", [
    ("MeanSquaredError", [[0.0, 1.0]], [[0.5, 0.2]]),
    ("MeanAbsoluteError", [[0.0, 1.0]], [[0.5, 0.2]]),
    ("Huber", [[0.0, 1.0]], [[0.5, 3.2]]),
    ("BinaryCrossentropy", [[0.0, 1.0]], [[0.3, 0.8]]),
    ("CategoricalCrossentropy", [[0.0, 1.0]], [[0.3, 0.7]]),
    ("SparseCategoricalCrossentropy", [1], [[0.3, 0.7]]),
])
def test_losses_take_keras_name_reduction_and_dtype(cls, y_true, y_pred):
    kwargs = dict(name="mine", reduction="sum_over_batch_size", dtype="float32")
    ours, theirs = getattr(sn.losses, cls)(**kwargs), getattr(keras.losses, cls)(**kwargs)
    assert ours.name == theirs.name == "mine"
    y_true, y_pred = np.array(y_true, np.float32), np.array(y_pred, np.float32)
    assert_close(ours(y_true, y_pred), float(theirs(y_true, y_pred)), FORWARD_RTOL, cls)
    with pytest.raises(ValueError, match=r"only Keras' default reduction='sum_over_batch_size'.*"
                                         r"received reduction='sum'"):
        getattr(sn.losses, cls)(reduction="sum")


def test_a_named_loss_goes_across_in_keras_files(tmp_path):
    model = sn.Sequential([L.Input((3,)), L.Dense(2)], seed=0)
    model.compile(optimizer="adam", loss=sn.losses.MeanSquaredError(name="my_mse"))
    model.save(tmp_path / "m.keras")
    assert keras.models.load_model(tmp_path / "m.keras").loss.name == "my_mse"
    model.save(tmp_path / "m.npz")
    assert sn.load_model(tmp_path / "m.npz").loss.name == "my_mse"


NEW_ACTIVATIONS = ["elu", "selu", "softplus", "softsign", "silu", "swish", "gelu", "leaky_relu",
                   "relu6", "hard_sigmoid", "hard_silu", "hard_swish", "exponential", "mish",
                   "log_softmax"]


@pytest.mark.parametrize("activation", NEW_ACTIVATIONS)
def test_every_keras_activation_forward_and_gradients(activation):
    """Dense(activation=...) -> Dense on inputs wide enough to reach every branch (relu6 above 6,
    hard_sigmoid beyond +-3, the negative side of elu/selu/leaky_relu): each layer's output to
    FORWARD_RTOL and every gradient to GRAD_RTOL against Keras 3.15, and the same again through
    the Activation layer."""
    from parity_tests.driver import assert_parity, random_biases

    x = np.random.default_rng(0).normal(size=(16, 5)).astype(np.float32) * 3
    y = np.random.default_rng(1).integers(0, 3, 16)
    loss = sn.losses.SparseCategoricalCrossentropy(from_logits=True)
    scale = 0.3 if activation == "exponential" else 1.5  # exp stays in float32's range
    for layers in ([L.Dense(7, activation=activation, name="act"), L.Dense(3)],
                   [L.Dense(7), L.Activation(activation), L.Dense(3)]):
        model = random_biases(sn.Sequential([L.Input((5,)), *layers], seed=3))
        model.set_weights([w * scale if w.ndim > 1 else w for w in model.get_weights()])
        z = x @ model.get_weights()[0]
        assert (z > 6 * scale / 1.5).any() and (z < -3 * scale / 1.5).any()  # every branch is reached
        assert_parity(model, x, y, loss=loss)


@pytest.mark.parametrize("activation", ["relu", "elu", "selu", "leaky_relu", "relu6"])
def test_gradients_at_exactly_zero_equal_keras(activation):
    """Black pixels with a zero bias make the pre-activation exactly 0, where these activations
    have a kink: Keras (TensorFlow's gradient kernels) takes the right-hand slope for selu
    (``scale``), and 0 or the left slope for the others; the gradients must agree there too."""
    from parity_tests.driver import assert_parity

    x = np.random.default_rng(0).normal(size=(8, 5)).astype(np.float32)
    x[:4] = 0.0  # half the batch: z = 0 exactly (the biases start at zero)
    y = np.random.default_rng(1).integers(0, 3, 8)
    model = sn.Sequential([L.Input((5,)), L.Dense(4, activation=activation), L.Dense(3)], seed=1)
    assert_parity(model, x, y, loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))


@pytest.mark.parametrize("form", ["sequential", "functional"])
def test_a_sequential_used_as_a_layer_equals_keras(form):
    """Keras' image-classification tutorial puts ``data_augmentation = Sequential([...])`` inside
    its model, or calls it on the Input. Here a nested Sequential with weights (Rescaling, Conv2D)
    in both forms: the same weights in the same order, outputs and one training step as Keras'."""
    x = np.random.default_rng(0).uniform(0, 255, size=(6, 8, 8, 3)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 3, 6)
    models = []
    for mod in (keras, sn):
        inner = mod.Sequential([mod.layers.Rescaling(1.0 / 255), mod.layers.Conv2D(2, 3, activation="relu")])
        if form == "sequential":
            model = mod.Sequential([mod.Input((8, 8, 3)), inner, mod.layers.Flatten(), mod.layers.Dense(3)])
        else:
            inputs = mod.Input((8, 8, 3))
            model = mod.Model(inputs, mod.layers.Dense(3)(mod.layers.Flatten()(inner(inputs))))
        model.compile(optimizer=mod.optimizers.SGD(0.1),
                      loss=mod.losses.SparseCategoricalCrossentropy(from_logits=True))
        models.append(model)
    kmodel, smodel = models
    assert [w.shape for w in smodel.get_weights()] == [w.shape for w in kmodel.get_weights()]
    smodel.set_weights(kmodel.get_weights())
    assert_close(smodel.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL,
                 "outputs through the nested model")
    assert_close(smodel.train_on_batch(x, y), kmodel.train_on_batch(x, y), FORWARD_RTOL, "loss")
    for ws, wk in zip(smodel.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(ws, wk, TRAJECTORY_RTOL, "weights after one step")


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "elu", "selu", "softplus", "softsign",
                                  "silu", "swish", "gelu", "leaky_relu", "relu6", "hard_sigmoid",
                                  "hard_silu", "exponential", "mish", "linear", "softmax"])
def test_activation_functions_equal_keras_and_work_as_activation_arguments(name):
    """``keras.activations.relu(x)`` and ``Dense(activation=keras.activations.relu)``."""
    x = np.linspace(-8, 8, 24, dtype=np.float32).reshape(4, 6)
    ours, theirs = getattr(sn.activations, name), getattr(keras.activations, name)
    assert_close(ours(x), np.asarray(theirs(x)), FORWARD_RTOL, f"activations.{name}")
    layer = L.Dense(3, activation=ours)
    assert layer.activation.name == sn.activations.get(name).name


@pytest.mark.parametrize("make", [
    lambda m: [m.layers.Dense(6), m.layers.LeakyReLU(), m.layers.Dense(3)],
    lambda m: [m.layers.Dense(6), m.layers.LeakyReLU(negative_slope=0.05), m.layers.Dense(3)],
    lambda m: [m.layers.Dense(12), m.layers.Reshape((3, 4)), m.layers.Conv1D(2, 2),
               m.layers.Reshape((-1,)), m.layers.Dense(3)],
], ids=["leaky_relu_default", "leaky_relu_slope", "reshape"])
def test_leaky_relu_and_reshape_layers_equal_keras(make, tmp_path):
    """Forward, loss and gradients against Keras 3.15 (values below 0 reach the slope), and
    the .keras file both ways."""
    from parity_tests.driver import assert_parity, random_biases

    x = np.random.default_rng(0).normal(size=(8, 5)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 3, 8)
    model = random_biases(sn.Sequential([L.Input((5,)), *make(sn)], seed=2))
    twins = assert_parity(model, x, y, loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.save(tmp_path / "s.keras")
    assert_close(keras.models.load_model(tmp_path / "s.keras").predict(x, verbose=0),
                 model.predict(x, verbose=0), FORWARD_RTOL, "scratchnet's file in Keras")
    twins.keras.save(tmp_path / "k.keras")
    assert_close(sn.load_model(tmp_path / "k.keras").predict(x, verbose=0),
                 twins.keras.predict(x, verbose=0), FORWARD_RTOL, "Keras' file in scratchnet")


def test_leaky_relu_takes_keras_2s_alpha_and_reshape_checks_sizes():
    with pytest.warns(UserWarning, match="`alpha` is deprecated"):
        assert L.LeakyReLU(alpha=0.1).negative_slope == 0.1
    with pytest.raises(ValueError, match=r"total size of the input, 6 .*target_shape=\(4,\)"):
        sn.Sequential([L.Input((6,)), L.Reshape((4,))])
    with pytest.raises(ValueError, match="at most one -1"):
        L.Reshape((-1, -1))


RELU_CONFIGS = [
    {}, {"max_value": 6.0}, {"max_value": 2.5}, {"negative_slope": 0.1},
    {"threshold": 0.5}, {"max_value": 6.0, "threshold": 0.5}, {"max_value": 2.5, "negative_slope": 0.2},
    {"max_value": 6.0, "negative_slope": 0.2}, {"threshold": 0.5, "negative_slope": 0.3},
    {"max_value": 2.5, "negative_slope": 0.2, "threshold": 1.0},
]


@pytest.mark.parametrize("config", RELU_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items())
                         or "default")
def test_relu_layer_equals_keras_bit_for_bit(config):
    """``keras.layers.ReLU`` forward and gradient (``tf.GradientTape``) on values that include every
    boundary exactly (0, threshold, max_value, 6): the same elementwise operations, so the same
    float32 bits, ties included (TensorFlow's clip passes x == max_value, its relu6 does not)."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    ties = np.array([0.0, -0.0, 0.5, 1.0, 2.5, 6.0, -6.0, 7.0, -1.0, 0.25], np.float32)
    x = np.concatenate([ties, (rng.normal(size=54) * 4).astype(np.float32)]).reshape(8, 8)
    dy = rng.normal(size=x.shape).astype(np.float32)
    layer = L.ReLU(**config)
    ours = layer.forward(x, training=True)
    ours_dx = layer.backward(dy)
    klayer = keras.layers.ReLU(**config)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        theirs = klayer(xt)
    theirs_dx = tape.gradient(theirs, xt, output_gradients=tf.constant(dy))
    np.testing.assert_array_equal(ours, theirs.numpy())
    np.testing.assert_array_equal(ours_dx, theirs_dx.numpy())


def test_relu_layer_in_a_model_converts_and_saves_both_ways(tmp_path):
    """``ReLU(6.0)`` between two Dense layers: loss and gradients against Keras, through
    ``tfnet.to_keras``, and the .keras file both ways (config included)."""
    from parity_tests.driver import assert_parity, random_biases

    x = np.random.default_rng(0).normal(size=(8, 5)).astype(np.float32) * 3
    y = np.random.default_rng(1).integers(0, 3, 8)
    model = random_biases(sn.Sequential([L.Input((5,)), L.Dense(6), L.ReLU(6.0, negative_slope=0.1),
                                         L.Dense(3)], seed=2))
    twins = assert_parity(model, x, y, loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.save(tmp_path / "s.keras")
    loaded = keras.models.load_model(tmp_path / "s.keras")
    assert loaded.layers[1].get_config()["max_value"] == 6.0
    assert_close(loaded.predict(x, verbose=0), model.predict(x, verbose=0), FORWARD_RTOL,
                 "scratchnet's file in Keras")
    twins.keras.save(tmp_path / "k.keras")
    back = sn.load_model(tmp_path / "k.keras")
    assert (back.layers[1].max_value, back.layers[1].negative_slope) == (6.0, 0.1)
    assert_close(back.predict(x, verbose=0), twins.keras.predict(x, verbose=0), FORWARD_RTOL,
                 "Keras' file in scratchnet")


def test_relu_layer_refuses_what_keras_refuses():
    for kwargs, arg in (({"max_value": -1.0}, "max_value"), ({"negative_slope": None}, "negative_slope"),
                        ({"negative_slope": -0.1}, "negative_slope"), ({"threshold": -1}, "threshold")):
        with pytest.raises(ValueError, match=rf'ReLU "re_lu": expected {arg} to be a number >= 0'):
            L.ReLU(**kwargs)
        with pytest.raises(ValueError, match=arg):
            keras.layers.ReLU(**kwargs)


def _frozen_twins():
    """Dense -> BatchNormalization -> Dense -> Dense, the first two frozen, in both frameworks from
    the same weights (set before compile: Keras reads ``trainable`` when it compiles)."""
    model = sn.Sequential([L.Input((5,)), L.Dense(6, name="base"), L.BatchNormalization(name="bn"),
                           L.Dense(4, activation="relu", name="mid"), L.Dense(3, name="head")],
                          seed=4)
    kmodel = tfnet.to_keras(model)
    for m in (model, kmodel):
        m.get_layer("base").trainable = False
        m.get_layer("bn").trainable = False
    model.compile(optimizer=sn.optimizers.Adam(0.05),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    kmodel.compile(optimizer=keras.optimizers.Adam(0.05), jit_compile=False,
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, kmodel


def test_frozen_layers_equal_keras():
    """``layer.trainable = False``: the frozen weights (and a frozen BatchNormalization's moving
    statistics: it runs in inference mode) stay as they were, the rest trains as in Keras; the
    trainable/non-trainable lists, the loss gradients (zeros for frozen weights) and the weights
    after 3 Adam steps equal Keras'."""
    model, kmodel = _frozen_twins()
    x = np.random.default_rng(0).normal(size=(8, 5)).astype(np.float32) * 2 + 1
    y = np.random.default_rng(1).integers(0, 3, 8)
    assert len(model.trainable_weights) == len(kmodel.trainable_weights) == 4
    assert len(model.non_trainable_weights) == len(kmodel.non_trainable_weights) == 6
    loss_s, grads_s = model.loss_and_grads(x, y)
    loss_k, grads_k = tfnet.loss_and_grads(kmodel, x, y)
    assert_close(loss_s, loss_k, FORWARD_RTOL, "loss with frozen layers")
    for gs, gk in zip(grads_s, grads_k, strict=True):
        assert_close(gs, gk, GRAD_RTOL, "gradient (zeros for frozen weights)")
    before = model.get_weights()
    for _ in range(3):
        assert_close(model.train_on_batch(x, y), kmodel.train_on_batch(x, y), FORWARD_RTOL, "loss")
    after = model.get_weights()
    for i in range(6):  # base kernel, bias; bn gamma, beta, moving mean, moving variance
        np.testing.assert_array_equal(after[i], before[i])
    assert not np.array_equal(after[6], before[6])  # the trainable ones moved
    for ws, wk in zip(after, kmodel.get_weights(), strict=True):
        assert_close(ws, wk, TRAJECTORY_RTOL, "weights after 3 steps with frozen layers")


def test_freezing_goes_across_files_and_converters(tmp_path):
    model, kmodel = _frozen_twins()
    model.save(tmp_path / "s.keras")
    loaded_k = keras.models.load_model(tmp_path / "s.keras")
    assert [layer.trainable for layer in loaded_k.layers] == [False, False, True, True]
    kmodel.save(tmp_path / "k.keras")
    for loaded in (sn.load_model(tmp_path / "k.keras"), tfnet.from_keras(kmodel)):
        assert [layer.trainable for layer in loaded.layers] == [False, False, True, True]
    model.save(tmp_path / "s.npz")
    assert [layer.trainable for layer in sn.load_model(tmp_path / "s.npz").layers] == \
        [False, False, True, True]
    assert [layer.trainable for layer in tfnet.to_keras(model).layers] == [False, False, True, True]


def test_fine_tuning_as_the_transfer_learning_lesson():
    """Freeze the base, train the head; thaw the base, compile again with a new optimizer (as
    Keras requires), train: Keras' weights at every stage. And Keras' rule that a frozen model
    trains nothing, even a layer thawed inside it."""
    x = np.random.default_rng(2).normal(size=(8, 5)).astype(np.float32)
    y = np.random.default_rng(3).integers(0, 3, 8)
    model = sn.Sequential([L.Input((5,)), L.Dense(6, activation="relu", name="base"),
                           L.Dense(3, name="head")], seed=5)
    kmodel = tfnet.to_keras(model)
    for m in (model, kmodel):
        m.trainable = False
        m.get_layer("head").trainable = True
        assert len(m.trainable_weights) == 0 and len(m.non_trainable_weights) == 4
        m.trainable = True
        m.get_layer("base").trainable = False
        assert len(m.trainable_weights) == 2
    for m, mod in ((model, sn), (kmodel, keras)):
        m.compile(optimizer=mod.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    for _ in range(2):
        model.train_on_batch(x, y)
        kmodel.train_on_batch(x, y)
    for m, mod in ((model, sn), (kmodel, keras)):
        m.get_layer("base").trainable = True  # (Keras 3.15's model.trainable = True on a model
        # that already is leaves a frozen layer frozen; the layer's own flag is unambiguous)
        m.compile(optimizer=mod.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
        assert len(m.trainable_weights) == 4
    for _ in range(2):
        model.train_on_batch(x, y)
        kmodel.train_on_batch(x, y)
    for ws, wk in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(ws, wk, TRAJECTORY_RTOL, "weights after freezing, then fine-tuning")


def test_a_named_loss_still_picks_keras_accuracy():
    """``metrics=["accuracy"]`` means sparse categorical accuracy for a sparse cross-entropy
    whatever its ``name=``: the loss function decides, not the name (a renamed loss picked
    categorical accuracy and reported 0.5 where Keras reports 0.625)."""
    x = np.random.default_rng(4).normal(size=(16, 5)).astype(np.float32)
    y = np.random.default_rng(5).integers(0, 3, 16)
    model = sn.Sequential([L.Input((5,)), L.Dense(3)], seed=6)
    kmodel = tfnet.to_keras(model)
    for m, mod in ((model, sn), (kmodel, keras)):
        m.compile(optimizer=mod.optimizers.SGD(0.1), metrics=["accuracy"],
                  loss=mod.losses.SparseCategoricalCrossentropy(from_logits=True, name="xent"))
    ours, theirs = model.test_on_batch(x, y), kmodel.test_on_batch(x, y)
    assert_close(ours, theirs, FORWARD_RTOL, "[loss, accuracy] with a renamed loss")
    assert type(model.metrics[0]) is sn.metrics.SparseCategoricalAccuracy


def _shape_models(lib):
    """The same five models on either library: each way a model learns its input shape."""
    def functional(two_outputs):
        a, b = lib.Input((5,), name="a"), lib.Input((2,), name="b")
        joined = lib.layers.Concatenate()([a, b])
        outputs = [lib.layers.Dense(3)(joined), lib.layers.Dense(1)(joined)]
        return lib.Model([a, b], outputs if two_outputs else outputs[0])

    built = lib.Sequential([lib.layers.Dense(3), lib.layers.Dense(2)])
    built.build((None, 4))
    with pytest.warns(UserWarning, match="input_shape"):
        argument = lib.Sequential([lib.layers.Dense(1, input_shape=[1])])
    return {
        "input": lib.Sequential([lib.Input((8, 8, 3)), lib.layers.Conv2D(4, 3), lib.layers.Flatten(),
                                 lib.layers.Dense(2)]),
        "input_shape=": argument,
        "build": built,
        "functional, two inputs and outputs": functional(True),
        "functional, one output": functional(False),
    }


def test_model_input_and_output_shape_carry_the_batch_axis_as_in_keras():
    ours, theirs = _shape_models(sn), _shape_models(keras)
    for name in theirs:
        assert ours[name].input_shape == theirs[name].input_shape, name
        assert ours[name].output_shape == theirs[name].output_shape, name
    assert theirs["input"].input_shape == (None, 8, 8, 3)  # what both give, spelled out once


def test_unbuilt_sequential_has_no_input_shape_as_in_keras():
    for lib in (sn, keras):
        model = lib.Sequential([lib.layers.Dense(3)])
        with pytest.raises(AttributeError, match="has no defined input shape yet"):
            _ = model.input_shape
        with pytest.raises(AttributeError, match="has no defined output shape yet"):
            _ = model.output_shape


@pytest.mark.parametrize("name, module", [
    ("Layer", "layers"), ("Loss", "losses"), ("Metric", "metrics"), ("Optimizer", "optimizers"),
    ("Initializer", "initializers"), ("Regularizer", "regularizers"), ("InputSpec", "layers"),
])
def test_top_level_base_classes_are_keras_names(name, module):
    """``keras.Layer``, ``keras.Loss``, ... (Keras 3's spelling in its custom-object guides): the
    same classes as in their modules, under Keras' names."""
    assert getattr(sn, name) is getattr(getattr(sn, module), name)
    assert getattr(sn, name).__name__ == getattr(keras, name).__name__


def test_a_keras3_style_custom_layer_on_the_top_level_base():
    """The Keras 3 guide's form, ``class Linear(keras.Layer)`` with build/call, import swapped."""

    class Linear(sn.Layer):
        def __init__(self, units=4):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros")

        def call(self, inputs):
            return sn.ops.matmul(inputs, self.w) + self.b

    layer = Linear(3)
    x = np.ones((2, 5), np.float32)
    y = layer(x)
    np.testing.assert_allclose(y, x @ layer.w.numpy() + layer.b.numpy(), rtol=1e-6)
    assert isinstance(sn.Input((5,)), sn.KerasTensor) and sn.version() == sn.__version__


def test_get_uid_and_clear_session_count_as_keras():
    """``backend.get_uid`` counts per prefix from 1; ``clear_session`` restarts the counters, and
    with them the names of unnamed variables."""
    import keras

    seen = {}
    for lib in (sn, keras):
        lib.utils.clear_session()
        uids = [lib.backend.get_uid("x"), lib.backend.get_uid("x"), lib.backend.get_uid("y"),
                lib.backend.get_uid()]
        names = [lib.Variable(1.0).path, lib.Variable(2.0, name="v").path, lib.Variable(3.0).path]
        lib.utils.clear_session()
        seen[lib] = (uids, names, lib.backend.get_uid("x"), lib.Variable(1.0).path)
    assert seen[sn] == seen[keras] == ([1, 2, 1, 1], ["variable", "v", "variable_1"], 1, "variable")


@pytest.mark.parametrize("name", ["Adagrad", "Adam", "Ftrl", "Optimizer", "RMSprop", "SGD"])
def test_legacy_optimizers_stop_as_in_keras_3(name):
    import keras

    with pytest.raises(ImportError, match="`keras.optimizers.legacy` is not supported in Keras 3"):
        getattr(keras.optimizers.legacy, name)(learning_rate=0.1)
    with pytest.raises(ImportError, match=f"`keras.optimizers.legacy` is not supported in Keras 3, nor in "
                                          f"scratchnet.*use scratchnet.optimizers.{name} instead"):
        getattr(sn.optimizers.legacy, name)(lr=0.1)
