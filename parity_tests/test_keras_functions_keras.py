"""Keras' function forms and aliases against Keras 3.15.1: ``keras.metrics``' metric functions
(and their use in ``compile``), the initializer aliases and the LeCun and Identity initializers,
``keras.activations``' newer activations and ``serialize``/``deserialize``.

Tolerances: metric functions return 0/1 per sample, compared exactly; compiled metrics over
several batches to FORWARD_RTOL (Keras sums in float32); activations forward to FORWARD_RTOL and
their gradients (``tf.GradientTape``) to GRAD_RTOL.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, assert_close, check_round_trip

RNG = np.random.default_rng(11)


def _scores(shape, ties: bool = False):
    x = RNG.standard_normal(shape).astype("f4")
    if ties:  # repeated scores, so argmax and top-k ties are exercised
        x = np.round(x * 2) / 2
    return x


def _metric_cases():
    probs = _scores((9, 5), ties=True)
    labels = RNG.integers(0, 5, 9)
    one_hot = np.eye(5, dtype="f4")[labels]
    binary_p = RNG.uniform(size=(9, 1)).astype("f4")
    binary_p[0, 0] = 0.5  # exactly the threshold: not above it
    binary_y = RNG.integers(0, 2, (9, 1)).astype("f4")
    seq = _scores((3, 4, 5), ties=True)
    seq_labels = RNG.integers(0, 5, (3, 4))
    return [
        ("binary_accuracy", (binary_y, binary_p), {}),
        ("binary_accuracy", (binary_y[:, 0], binary_p), {}),
        ("binary_accuracy", (binary_y, binary_p), {"threshold": 0.3}),
        ("binary_accuracy", (binary_y[:, 0], binary_p[:, 0]), {}),
        ("categorical_accuracy", (one_hot, probs), {}),
        ("categorical_accuracy", (np.eye(5, dtype="f4")[seq_labels], seq), {}),
        ("sparse_categorical_accuracy", (labels, probs), {}),
        ("sparse_categorical_accuracy", (labels[:, None], probs), {}),
        ("sparse_categorical_accuracy", (labels.astype("f4"), probs), {}),
        ("sparse_categorical_accuracy", (seq_labels, seq), {}),
        ("top_k_categorical_accuracy", (one_hot, probs), {}),
        ("top_k_categorical_accuracy", (one_hot, probs), {"k": 2}),
        ("top_k_categorical_accuracy", (np.eye(5, dtype="f4")[seq_labels], seq), {"k": 3}),
        ("sparse_top_k_categorical_accuracy", (labels, probs), {"k": 2}),
        ("sparse_top_k_categorical_accuracy", (labels[:, None], probs), {"k": 1}),
        ("sparse_top_k_categorical_accuracy", (seq_labels, seq), {"k": 2}),
        ("sparse_top_k_categorical_accuracy",
         (labels, np.argsort(-probs, axis=1, kind="stable").astype("f4")),
         {"k": 2, "from_sorted_ids": True}),
    ]


@pytest.mark.parametrize("name, args, kwargs", _metric_cases(),
                         ids=lambda v: v if isinstance(v, str) else None)
def test_metric_functions_as_keras(name, args, kwargs):
    ours = getattr(sn.metrics, name)(*args, **kwargs)
    theirs = np.asarray(getattr(keras.metrics, name)(*args, **kwargs))
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


LOSS_NAMES = ["binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
              "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
              "mean_squared_logarithmic_error", "kl_divergence", "poisson", "hinge", "squared_hinge",
              "categorical_hinge", "log_cosh", "huber"]


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_loss_functions_keras_metrics_reexports(name):
    """keras.metrics.mean_squared_error is keras.losses.mean_squared_error; so in scratchnet."""
    assert getattr(keras.metrics, name) is getattr(keras.losses, name)
    assert getattr(sn.metrics, name) is getattr(sn.losses, name)
    y = RNG.uniform(size=(6, 3)).astype("f4")
    p = RNG.uniform(0.05, 0.95, size=(6, 3)).astype("f4")
    if name == "sparse_categorical_crossentropy":
        y = RNG.integers(0, 3, 6)
    assert_close(getattr(sn.metrics, name)(y, p), np.asarray(getattr(keras.metrics, name)(y, p)),
                 FORWARD_RTOL, name)


def _compiled_pair(metrics_s, metrics_k, loss="categorical_crossentropy"):
    model = sn.Sequential([sn.layers.Input((4,)), sn.layers.Dense(5, activation="softmax")], seed=3)
    model.compile(optimizer=sn.optimizers.SGD(0.1), loss=loss, metrics=metrics_s)
    kmodel = tfnet.to_keras(model)
    kmodel.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss, metrics=metrics_k)
    return model, kmodel


def test_compile_with_metric_functions_logs_as_keras():
    x = RNG.standard_normal((13, 4)).astype("f4")
    y = np.eye(5, dtype="f4")[RNG.integers(0, 5, 13)]
    names = ["categorical_accuracy", "top_k_categorical_accuracy", "mean_squared_error",
             "binary_accuracy"]
    model, kmodel = _compiled_pair([getattr(sn.metrics, n) for n in names],
                                   [getattr(keras.metrics, n) for n in names])
    assert model.metrics_names == ["loss", *names]
    hs = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    hk = kmodel.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    assert set(hs) == set(hk) == {"loss", *names}
    for key in hk:
        assert_close(hs[key], hk[key], GRAD_RTOL, f"history[{key!r}]")
    assert_close(model.evaluate(x, y, verbose=0), kmodel.evaluate(x, y, verbose=0), FORWARD_RTOL,
                 "evaluate")


def test_sparse_metric_functions_in_compile():
    x = RNG.standard_normal((10, 4)).astype("f4")
    y = RNG.integers(0, 5, 10)
    names = ["sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy"]
    model, kmodel = _compiled_pair([getattr(sn.metrics, n) for n in names],
                                   [getattr(keras.metrics, n) for n in names],
                                   loss="sparse_categorical_crossentropy")
    ls = model.evaluate(x, y, batch_size=3, verbose=0, return_dict=True)
    lk = kmodel.evaluate(x, y, batch_size=3, verbose=0, return_dict=True)
    assert set(ls) == set(lk) == {"loss", *names}
    for key in lk:
        assert_close(ls[key], lk[key], FORWARD_RTOL, key)


def test_metric_functions_save_to_keras_file_and_back(tmp_path):
    names = ["categorical_accuracy", "mean_squared_error"]
    model, kmodel = _compiled_pair([getattr(sn.metrics, n) for n in names],
                                   [getattr(keras.metrics, n) for n in names])
    x = RNG.standard_normal((6, 4)).astype("f4")
    y = np.eye(5, dtype="f4")[RNG.integers(0, 5, 6)]
    model.save(tmp_path / "ours.keras")
    loaded_k = keras.saving.load_model(tmp_path / "ours.keras")
    assert loaded_k.get_compile_config()["metrics"] == kmodel.get_compile_config()["metrics"]
    assert_close(loaded_k.evaluate(x, y, verbose=0), kmodel.evaluate(x, y, verbose=0), FORWARD_RTOL,
                 "Keras' evaluate of scratchnet's file")
    kmodel.save(tmp_path / "theirs.keras")
    loaded = sn.load_model(tmp_path / "theirs.keras")
    assert loaded.metric_names == [sn.metrics.categorical_accuracy, sn.metrics.mean_squared_error]
    back = tfnet.from_keras(kmodel)
    assert back.metric_names == loaded.metric_names


# ----------------------------------------------------------------------------- initializers
ALIASES = ["constant", "ones", "zeros", "identity", "orthogonal", "random_normal", "random_uniform",
           "truncated_normal", "variance_scaling", "lecun_normal", "lecun_uniform", "glorot_normal",
           "glorot_uniform", "he_normal", "he_uniform", "IdentityInitializer",
           "OrthogonalInitializer", "LecunNormal", "LecunUniform", "Identity"]


@pytest.mark.parametrize("alias", ALIASES)
def test_initializer_aliases_name_the_classes_keras_names(alias):
    kcls = getattr(keras.initializers, alias)
    cls = getattr(sn.initializers, alias)
    assert isinstance(cls, type) and cls.__name__ == kcls.__name__


def test_identity_initializer_as_keras():
    for shape, gain in [((3, 3), 1.0), ((2, 5), 2.5), ((4, 2), 0.5)]:
        ours = sn.initializers.Identity(gain=gain)(shape, "float32", np.random.default_rng(0))
        np.testing.assert_array_equal(ours, np.asarray(keras.initializers.Identity(gain=gain)(shape)))
    with pytest.raises(ValueError, match="can only be used for 2D matrices"):
        keras.initializers.Identity()((2, 2, 2))
    with pytest.raises(ValueError, match=r"can only be used for 2D matrices. Received: "
                                         r"shape=\(2, 2, 2\) of rank 3"):
        sn.initializers.Identity()((2, 2, 2), "float32", np.random.default_rng(0))


@pytest.mark.parametrize("name, bound", [("LecunUniform", "uniform"), ("LecunNormal", "normal")])
def test_lecun_initializers_are_keras_variance_scaling(name, bound):
    """Same distribution as Keras' (TF's draws cannot be copied): Keras' own config says
    scale 1, fan_in and the distribution; scratchnet's draws respect its bounds and spread."""
    kinit = getattr(keras.initializers, name)()
    assert (kinit.scale, kinit.mode, kinit.distribution) == (1.0, "fan_in",
                                                             "uniform" if bound == "uniform"
                                                             else "truncated_normal")
    shape = (200, 300)
    values = getattr(sn.initializers, name)()(shape, "float64", np.random.default_rng(0))
    theirs = np.asarray(kinit(shape))
    limit = np.sqrt(3 / 200) if bound == "uniform" else 2 * np.sqrt(1 / 200) / 0.87962566103423978
    assert np.abs(values).max() <= limit and np.abs(theirs).max() <= limit * (1 + 1e-6)
    assert abs(values.std() - theirs.std()) / theirs.std() < 0.01  # 60,000 draws each


@pytest.mark.parametrize("init", ["lecun_normal", "lecun_uniform", "identity",
                                  sn.initializers.LecunNormal(), sn.initializers.GlorotUniform(seed=3)])
def test_new_initializers_save_and_convert_as_keras(tmp_path, init):
    model = sn.Sequential([sn.layers.Input((4,)), sn.layers.Dense(4, kernel_initializer=init)], seed=0)
    if isinstance(init, str):
        kmodel = check_round_trip(model)
    else:  # an initializer object comes back from Keras as its serialized form (its seed kept)
        kmodel = tfnet.to_keras(model)
        back = tfnet.from_keras(kmodel).layers[0].get_config()["kernel_initializer"]
        assert sn.initializers.serialize(sn.initializers.get(back)) == sn.initializers.serialize(init)
    kdense = keras.layers.Dense(4, kernel_initializer=init if isinstance(init, str)
                                else getattr(keras.initializers, type(init).__name__)(**init.get_config()))
    kdense.build((None, 4))
    ours = kmodel.layers[0].get_config()["kernel_initializer"]
    assert ours["class_name"] == kdense.get_config()["kernel_initializer"]["class_name"]
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    spec = loaded.layers[0].get_config()["kernel_initializer"]
    assert spec == kdense.get_config()["kernel_initializer"]
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])
    loaded.save(tmp_path / "k.keras")
    back = sn.load_model(tmp_path / "k.keras").layers[0].get_config()
    original = model.layers[0].get_config()
    assert sn.initializers.get(back.pop("kernel_initializer")).name == \
        sn.initializers.get(original.pop("kernel_initializer")).name
    assert back == original


# ----------------------------------------------------------------------------- activations
ELEMENTWISE = ["celu", "hard_tanh", "log_sigmoid", "squareplus", "sparse_plus", "sparse_sigmoid",
               "soft_shrink", "hard_shrink", "tanh_shrink"]


def _activation_inputs():
    x = RNG.uniform(-3, 3, size=(6, 7)).astype("f4")
    x[0, :5] = [-1.0, 1.0, 0.5, -0.5, 0.0]  # the kinks, exactly
    return x


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activation_forward_and_gradient_as_keras(name):
    x = _activation_inputs()
    assert_close(getattr(sn.activations, name)(x), np.asarray(getattr(keras.activations, name)(x)),
                 FORWARD_RTOL, name)
    x = x[1:]  # gradients away from the kinks (each side's own value is tested in tests/)
    da = RNG.standard_normal(x.shape).astype("f4")
    xt = tf.Variable(x)
    with tf.GradientTape() as tape:
        out = getattr(keras.activations, name)(xt)
    dk = tape.gradient(out, xt, output_gradients=tf.constant(da))
    act = sn.activations.get(name)
    a = act.forward(x)
    assert_close(act.backward(x, a, da), np.asarray(dk), GRAD_RTOL, f"{name} gradient")


def test_activation_kink_gradients_as_tensorflow():
    """At the kinks themselves, TensorFlow's choice of gradient (celu: 2 at 0)."""
    x = np.array([-1.0, 1.0, 0.5, -0.5, 0.0], "f4")
    for name in ELEMENTWISE:
        xt = tf.Variable(x)
        with tf.GradientTape() as tape:
            out = getattr(keras.activations, name)(xt)
        dk = np.asarray(tape.gradient(out, xt))
        act = sn.activations.get(name)
        np.testing.assert_allclose(act.backward(x, act.forward(x), np.ones_like(x)), dk,
                                   rtol=FORWARD_RTOL, err_msg=name)


@pytest.mark.parametrize("name, kwargs", [("celu", {"alpha": 0.5}), ("squareplus", {"b": 1.5}),
                                          ("soft_shrink", {"threshold": 1.0}),
                                          ("hard_shrink", {"threshold": 0.2}), ("glu", {}),
                                          ("glu", {"axis": 0}),
                                          ("threshold", {"threshold": 0.3, "default_value": -2.0})])
def test_activation_arguments_as_keras(name, kwargs):
    x = _activation_inputs()[:, :6]
    assert_close(getattr(sn.activations, name)(x, **kwargs),
                 np.asarray(getattr(keras.activations, name)(x, **kwargs)), FORWARD_RTOL, name)


def test_glu_odd_axis_refused_as_keras():
    x = np.ones((2, 3), "f4")
    with pytest.raises(ValueError, match="axis size must be divisible by 2"):
        keras.activations.glu(x)
    with pytest.raises(ValueError, match=r"glu: axis size must be divisible by 2. Received: "
                                         r"x.shape=\(2, 3\) with axis=-1"):
        sn.activations.glu(x)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_dense_with_new_activation_converts_saves_and_trains_as_keras(tmp_path, name):
    model = sn.Sequential([sn.layers.Input((5,)), sn.layers.Dense(4, activation=name),
                           sn.layers.Dense(2)], seed=1)
    kmodel = check_round_trip(model)
    x = RNG.standard_normal((8, 5)).astype("f4")
    y = RNG.standard_normal((8, 2)).astype("f4")
    model.compile(sn.optimizers.SGD(0.05), "mse")
    kmodel.compile(keras.optimizers.SGD(0.05), "mse")
    hs = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"]
    hk = kmodel.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"]
    assert_close(hs, hk, GRAD_RTOL, "loss")
    for ws, wk in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(ws, wk, GRAD_RTOL, "weights after fit")
    model.save(tmp_path / "m.keras")
    assert keras.saving.load_model(tmp_path / "m.keras").layers[0].get_config()["activation"] == name


@pytest.mark.parametrize("name", ["relu", "silu", "hard_silu", "softmax", "gelu", "celu",
                                  "tanh_shrink", "log_sigmoid", "glu", "threshold"])
def test_serialize_and_deserialize_as_keras(name):
    kfn = keras.activations.deserialize(name)
    fn = sn.activations.deserialize(name)
    assert fn.__name__ == kfn.__name__
    assert sn.activations.serialize(fn) == keras.activations.serialize(kfn)
    spec = {"module": "keras.activations", "class_name": "function", "config": name,
            "registered_name": "function"}
    assert sn.activations.deserialize(spec) is fn


def test_not_elementwise_activations_refused_in_layers():
    with pytest.raises(ValueError, match=r"activation 'glu' is a function only here: it halves the "
                                         r"last axis"):
        sn.layers.Dense(4, activation="glu")
    with pytest.raises(ValueError, match=r"activation 'threshold' is a function only here"):
        sn.layers.Dense(4, activation=sn.activations.threshold)
    with pytest.raises(ValueError, match="unknown activation 'nope'"):
        sn.activations.deserialize("nope")


def test_metric_functions_in_legacy_h5_as_keras(tmp_path):
    """Keras' .h5 training config names a metric function by its name; both read each other's."""
    model, kmodel = _compiled_pair([sn.metrics.categorical_accuracy], [keras.metrics.categorical_accuracy])
    x = RNG.standard_normal((6, 4)).astype("f4")
    y = np.eye(5, dtype="f4")[RNG.integers(0, 5, 6)]
    with pytest.warns(UserWarning, match="legacy HDF5"):
        model.save(tmp_path / "ours.h5")
    loaded_k = keras.saving.load_model(tmp_path / "ours.h5")
    ours_logs = model.evaluate(x, y, verbose=0, return_dict=True)
    theirs_logs = loaded_k.evaluate(x, y, verbose=0, return_dict=True)
    assert_close(ours_logs["categorical_accuracy"], theirs_logs["categorical_accuracy"], FORWARD_RTOL,
                 "categorical_accuracy")
    kmodel.save(tmp_path / "theirs.h5")
    assert sn.load_model(tmp_path / "theirs.h5").metrics_names == ["loss", "categorical_accuracy"]
