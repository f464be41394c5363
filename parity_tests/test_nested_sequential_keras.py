"""A functional model as an element of a Sequential model, against Keras 3.15: keras.io's
transfer-learning program ``Sequential([Input(shape), base, GlobalAveragePooling2D(), Dense(3)])``
with ``base.trainable = False``.

Keras keeps the functional model as ONE entry of ``model.layers``; scratchnet replays its layer
calls into the Sequential model's graph, as for a functional model called on a tensor
(``docs/functional.md``, "A functional model in a Sequential model"), and lists its layers there,
in its own order. So ``layers``, ``weights`` and ``get_weights`` come out in Keras' order with the
nested model expanded, ``set_weights(keras_model.get_weights())`` puts every array where Keras
has it, and ``.keras`` files (where both libraries nest the model) load across libraries."""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, TRAJECTORY_RTOL, assert_close, same_start
from parity_tests.test_nested_models_keras import keras_layers_expanded, weight_names


def small_base(M, name: str = "base"):
    """A small functional convnet in ``M`` (``keras`` or ``sn``), the "base" of the guide: a
    BatchNormalization (which a frozen base runs in inference mode) and a residual fork, so that
    its layers do not form a chain. (The convolution before the BatchNormalization has no bias, as
    in MobileNetV2: the normalization cancels its gradient, and Adam would turn the rounding
    noise left of it into full steps.)"""
    L = M.layers
    i = M.Input((8, 8, 3))
    h = L.Conv2D(4, 3, padding="same", use_bias=False, name="stem")(i)
    h = L.BatchNormalization(name="bn")(h)
    h = L.Activation("relu", name="relu")(h)
    branch = L.Conv2D(4, 1, name="branch")(h)
    return M.Model(i, L.Add(name="join")([h, branch]), name=name)


def transfer_model(M, base, form: str = "input"):
    """``base`` in a Sequential model in ``M``: after an ``Input`` (``"input"``), first with no
    ``Input`` (``"no_input"``: the model takes the base's input shape), added one by one
    (``"add"``), or after a layer and no ``Input`` (``"later"``: built on the first call)."""
    L = M.layers
    head = [L.GlobalAveragePooling2D(name="gap"), L.Dense(3, name="head")]
    if form == "input":
        return M.Sequential([M.Input((8, 8, 3)), base, *head], name="transfer")
    if form == "no_input":
        return M.Sequential([base, *head], name="transfer")
    if form == "later":
        return M.Sequential([L.Rescaling(0.5, name="scale"), base, *head], name="transfer")
    model = M.Sequential(name="transfer")
    for entry in [M.Input((8, 8, 3)), base, *head]:
        model.add(entry)
    return model


def param_counts(summary: str) -> tuple[int, int]:
    """(trainable, non-trainable) from the last lines of a summary's text."""
    def count(label: str) -> int:
        line = next(line for line in summary.splitlines() if line.strip().startswith(label))
        return int(line.split(":")[1].split("(")[0].replace(",", ""))
    return count("Trainable params"), count("Non-trainable params")


@pytest.mark.parametrize("form", ["input", "no_input", "add", "later"])
def test_a_functional_model_in_a_sequential_model_has_keras_layers_weights_and_outputs(form):
    model, kmodel = transfer_model(sn, small_base(sn), form), transfer_model(keras, small_base(keras), form)
    x = np.random.default_rng(2).normal(size=(4, 8, 8, 3)).astype(np.float32)
    if form == "later":  # no input shape yet: the first call builds both
        assert not model.built and not kmodel.built
        model.predict(x, verbose=0), kmodel.predict(x, verbose=0)
    assert model.built and kmodel.built
    assert [type(e).__name__ for e in kmodel.layers][-3:] == ["Functional", "GlobalAveragePooling2D", "Dense"]
    assert [la.name for la in model.layers] == [la.name for la in keras_layers_expanded(kmodel)]
    assert weight_names(model.weights) == weight_names(kmodel.weights)
    assert model.get_layer("base") is model._keras_entries[-3]  # Keras' get_layer finds the entry
    same_start(model, kmodel)
    for got, want in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL,
                 f"forward through the nested base ({form})")
    # built by predict: its first batch's size, 4, in both
    assert model.output_shape == kmodel.output_shape == ((4, 3) if form == "later" else (None, 3))
    x5 = np.concatenate([x, x[:1]])  # and other batch sizes still run
    assert_close(model.predict(x5, verbose=0), kmodel.predict(x5, verbose=0), FORWARD_RTOL,
                 f"a batch of 5 through the nested base ({form})")
    summary = model.summary(print_fn=None)
    where = [summary.index(f"{la.name} (") for la in model.layers]
    assert where == sorted(where)  # a row per layer, in model.layers' order
    trainable = sum(int(np.prod(w.shape)) for w in kmodel.trainable_weights)
    assert param_counts(summary) == (trainable, kmodel.count_params() - trainable) == (151, 8)


@pytest.mark.parametrize("freeze", ["never", "before_adding", "after_adding"])
def test_a_frozen_base_keeps_its_weights_in_fit_and_the_rest_trains_as_in_keras(freeze):
    """``base.trainable = False`` before or after the base joins the model: the base's weights
    (its BatchNormalization's moving statistics too: a frozen BatchNormalization normalizes with
    them) stay as they were, the head trains as Keras' does from the same start; unfrozen, the
    whole model trains as Keras' (the backward pass through the fork of the base)."""
    models = []
    for M in (sn, keras):
        base = small_base(M)
        if freeze == "before_adding":
            base.trainable = False
        model = transfer_model(M, base)
        if freeze == "after_adding":
            base.trainable = False
        model.compile(optimizer=M.optimizers.Adam(0.01),
                      loss=M.losses.SparseCategoricalCrossentropy(from_logits=True))
        models.append(model)
    model, kmodel = models
    same_start(model, kmodel)
    start = model.get_weights()
    trainable = sum(int(np.prod(w.shape)) for w in kmodel.trainable_weights)
    assert param_counts(model.summary(print_fn=None)) == (trainable, kmodel.count_params() - trainable)
    assert weight_names(model.trainable_weights) == weight_names(kmodel.trainable_weights)
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(16, 8, 8, 3)).astype(np.float32), rng.integers(0, 3, 16)
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    khistory = kmodel.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert_close(history.history["loss"], khistory.history["loss"], GRAD_RTOL, "the epochs' losses")
    n_base = len(model.get_layer("base").weights)
    for got, want in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(got, want, TRAJECTORY_RTOL, f"weights after fit (base frozen: {freeze})")
    if freeze != "never":
        for got, want, before in zip(model.get_weights()[:n_base], kmodel.get_weights()[:n_base],
                                     start[:n_base], strict=True):
            np.testing.assert_array_equal(got, before)  # the frozen base: not one bit changed
            np.testing.assert_array_equal(want, before)
    assert not np.array_equal(model.get_weights()[-2], start[-2])  # the head trained


def keras_transfer_file(tmp_path):
    """Keras' transfer model (base frozen), fitted one epoch with Adam and saved as ``.keras``."""
    keras.utils.set_random_seed(5)
    base = small_base(keras)
    base.trainable = False
    kmodel = transfer_model(keras, base)
    kmodel.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(8, 8, 8, 3)).astype(np.float32), rng.normal(size=(8, 3)).astype(np.float32)
    kmodel.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    path = tmp_path / "keras_transfer.keras"
    kmodel.save(path)
    return kmodel, path, x, y


def test_a_keras_file_of_a_sequential_holding_a_functional_model_loads(tmp_path):
    """Keras' file nests the base (``layers/functional/layers/conv2d/vars``): scratchnet loads it
    with Keras' weights (in Keras' order), predictions, frozen layers and optimizer state."""
    kmodel, path, x, y = keras_transfer_file(tmp_path)
    model = sn.load_model(path)
    assert isinstance(model, sn.Sequential)
    assert not model.get_layer("base").trainable  # (the config's "trainable": false)
    assert [la.name for la in model.layers] == [la.name for la in keras_layers_expanded(kmodel)]
    for got, want in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert weight_names(model.trainable_weights) == weight_names(kmodel.trainable_weights) \
        == ["head/kernel", "head/bias"]
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL,
                 "forward of the loaded model")
    assert model.optimizer.calls == int(kmodel.optimizer.iterations.numpy()) == 2
    assert_close(model.evaluate(x, y, verbose=0), kmodel.evaluate(x, y, verbose=0), FORWARD_RTOL,
                 "the loaded model's loss")
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)  # Adam goes on from its state
    kmodel.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(got, want, TRAJECTORY_RTOL, "weights after one more epoch")


def test_scratchnets_file_of_a_sequential_holding_a_functional_model_loads_in_both(tmp_path):
    """scratchnet writes the base nested, as Keras does (its config a ``Functional`` entry, its
    weights under ``layers/functional``): Keras and scratchnet both load the file with the model's
    predictions, weights and frozen base; the weights files go both ways too."""
    base = small_base(sn)
    base.trainable = False
    model = transfer_model(sn, base)
    kmodel = transfer_model(keras, small_base(keras))
    same_start(model, kmodel, seed=4)
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(6).normal(size=(4, 8, 8, 3)).astype(np.float32)
    want = model.predict(x, verbose=0)
    model.save(tmp_path / "s.keras")
    kloaded, loaded = keras.models.load_model(tmp_path / "s.keras"), sn.load_model(tmp_path / "s.keras")
    assert [type(e).__name__ for e in kloaded.layers] == ["Functional", "GlobalAveragePooling2D", "Dense"]
    assert kloaded.layers[0].name == "base" and not kloaded.layers[0].trainable
    for other in (kloaded, loaded):
        assert_close(other.predict(x, verbose=0), want, FORWARD_RTOL, f"{type(other).__module__} loading it")
        for got, expected in zip(other.get_weights(), model.get_weights(), strict=True):
            np.testing.assert_array_equal(got, expected)
        assert weight_names(other.trainable_weights) == ["head/kernel", "head/bias"]
    assert [la.name for la in loaded.layers] == [la.name for la in model.layers]
    assert not loaded.get_layer("base").trainable

    model.save_weights(tmp_path / "s.weights.h5")  # scratchnet's weights into Keras' twin
    twin = transfer_model(keras, small_base(keras))
    twin.load_weights(tmp_path / "s.weights.h5")
    for got, expected in zip(twin.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, expected)
    kmodel.save_weights(tmp_path / "k.weights.h5")  # and Keras' into scratchnet's
    mine = transfer_model(sn, small_base(sn))
    mine.load_weights(tmp_path / "k.weights.h5")
    for got, expected in zip(mine.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_mobilenet_v2_as_a_frozen_base_of_a_sequential_model_trains_as_in_keras():
    """The guide's program itself, at a small size (32x32, alpha 0.35, no pretrained weights):
    the same layers and weights, outputs, and a head trained by two SGD steps as Keras trains it,
    the frozen base untouched."""
    models = []
    for M in (sn, keras):
        base = M.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False, weights=None,
                                          alpha=0.35)
        base.trainable = False
        # (the head named: Keras numbers unnamed layers across the session, scratchnet per model)
        model = M.Sequential([M.Input((32, 32, 3)), base, M.layers.GlobalAveragePooling2D(name="pool"),
                              M.layers.Dense(3, name="head")])
        model.compile(optimizer=M.optimizers.SGD(0.1), loss="mse")
        models.append(model)
    model, kmodel = models
    assert [la.name for la in model.layers] == [la.name for la in keras_layers_expanded(kmodel)]
    assert weight_names(model.weights) == weight_names(kmodel.weights)
    rng = np.random.default_rng(8)
    kmodel.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") if "moving_variance" in w.path
                        else rng.normal(0, 0.1, w.shape).astype("float32") for w in kmodel.weights])
    model.set_weights(kmodel.get_weights())
    start = model.get_weights()
    trainable = sum(int(np.prod(w.shape)) for w in kmodel.trainable_weights)
    assert param_counts(model.summary(print_fn=None)) == (trainable, kmodel.count_params() - trainable)
    x, y = rng.normal(size=(4, 32, 32, 3)).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32)
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL,
                 "MobileNetV2's features through the head")
    model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    kmodel.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    weights = model.get_weights()
    for got, before in zip(weights[:-2], start[:-2], strict=True):
        np.testing.assert_array_equal(got, before)
    for got, want in zip(weights[-2:], kmodel.get_weights()[-2:], strict=True):
        assert_close(got, want, TRAJECTORY_RTOL, "the head after two SGD steps")


def test_tfnet_converts_a_sequential_holding_a_functional_model_both_ways():
    """``tfnet.to_keras`` gives Keras' model with the base one ``Functional`` entry, frozen as it
    was; ``tfnet.from_keras`` of it gives scratchnet's back: the same weights and outputs."""
    base = small_base(sn)
    base.trainable = False
    model = transfer_model(sn, base)
    same_start(model, transfer_model(keras, small_base(keras)), seed=9)
    x = np.random.default_rng(10).normal(size=(4, 8, 8, 3)).astype(np.float32)
    kmodel = tfnet.to_keras(model)
    assert [type(e).__name__ for e in kmodel.layers] == ["Functional", "GlobalAveragePooling2D", "Dense"]
    assert not kmodel.layers[0].trainable
    back = tfnet.from_keras(kmodel)
    assert [la.name for la in back.layers] == [la.name for la in model.layers]
    for other in (kmodel, back):
        assert weight_names(other.trainable_weights) == ["head/kernel", "head/bias"]
        for got, want in zip(other.get_weights(), model.get_weights(), strict=True):
            np.testing.assert_array_equal(got, want)
        assert_close(other.predict(x, verbose=0), model.predict(x, verbose=0), FORWARD_RTOL,
                     "the converted model's outputs")


def test_the_guides_fine_tuning_after_training_the_head_follows_keras():
    """The guide's second phase: the head trained with the base frozen, then ``base.trainable =
    True``, ``compile`` again with a small learning rate and ``fit``: every weight (the base's
    BatchNormalization now in training mode, its moving statistics updated) follows Keras'."""
    bases, models = [], []
    for M in (sn, keras):
        base = small_base(M)
        base.trainable = False
        bases.append(base)
        models.append(transfer_model(M, base))
    model, kmodel = models
    same_start(model, kmodel, seed=12)
    rng = np.random.default_rng(13)
    x, y = rng.normal(size=(8, 8, 8, 3)).astype(np.float32), rng.integers(0, 3, 8)
    for phase, lr in (("head", 0.01), ("fine-tuning", 0.001)):
        if phase == "fine-tuning":
            for base in bases:
                base.trainable = True
        for m, M in ((model, sn), (kmodel, keras)):
            m.compile(optimizer=M.optimizers.Adam(lr),
                      loss=M.losses.SparseCategoricalCrossentropy(from_logits=True))
            m.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        assert weight_names(model.trainable_weights) == weight_names(kmodel.trainable_weights)
        for got, want in zip(model.get_weights(), kmodel.get_weights(), strict=True):
            assert_close(got, want, TRAJECTORY_RTOL, f"weights after the {phase} phase")


@pytest.mark.parametrize("frozen", [False, True])
def test_legacy_h5_files_of_a_sequential_holding_a_functional_model_load_across_libraries(frozen, tmp_path):
    """Keras' legacy ``.h5`` keeps the base as one group (its trainable weights, then the others;
    a frozen base: all of them in layer order); scratchnet writes it so, and reads Keras' file."""
    models = []
    for M in (sn, keras):
        base = small_base(M)
        base.trainable = not frozen
        models.append(transfer_model(M, base))
    model, kmodel = models
    same_start(model, kmodel, seed=14)
    x = np.random.default_rng(15).normal(size=(4, 8, 8, 3)).astype(np.float32)
    want = kmodel.predict(x, verbose=0)
    with pytest.warns(UserWarning, match="legacy HDF5"):
        model.save(tmp_path / "s.h5")
    kmodel.save(tmp_path / "k.h5")  # (Keras logs that the format is legacy)
    for loaded in (keras.models.load_model(tmp_path / "s.h5"), sn.load_model(tmp_path / "k.h5"),
                   sn.load_model(tmp_path / "s.h5")):
        assert_close(loaded.predict(x, verbose=0), want, FORWARD_RTOL, "the loaded .h5 model")
        for got, expected in zip(loaded.get_weights(), kmodel.get_weights(), strict=True):
            np.testing.assert_array_equal(got, expected)
