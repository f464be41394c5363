"""Keras' developer guide "The Functional API" (keras.io/guides/functional_api), section by section,
as the same small programs in Keras 3.15 and in scratchnet (the import changed): the shapes and
dtypes of ``Input``, the summary's rows and totals, fit / evaluate numbers from the same start
weights (TRAJECTORY_RTOL), saving (and the error for a path without an extension), one graph in
two models, models called like layers and nested, an ensemble, a multi-input multi-output model
compiled with lists or dicts of losses, the toy ResNet, a shared embedding, feature extraction
from ``layer.output``, ``get_config`` / ``Model.from_config`` with a custom layer (both ways
across the libraries), ``plot_model`` and a functional model inside a subclassed layer.
MNIST and CIFAR-10 are replaced by seeded arrays of the same structure, scaled down.
docs/keras-guides.md lists what runs and what is out of scope."""

import json
import re

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, TRAJECTORY_RTOL, assert_close

LIBS = pytest.mark.parametrize("lib", [keras, sn], ids=["keras", "scratchnet"])


# ---------------------------------------------------------------------------- helpers
def copy_weights_by_name(kmodel, model) -> None:
    """Each named layer of ``model`` gets the weights of Keras' layer of the same name."""
    for klayer in kmodel.layers:
        if klayer.weights:
            model.get_layer(klayer.name).set_weights(klayer.get_weights())


def summary_rows(model) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The summary's (layer (type), output shape, params) rows and its "Total/Trainable/Non-
    trainable params: N" counts, read from Keras' box table (a cell may wrap over several
    lines) or scratchnet's plain one."""
    lines = []
    model.summary(print_fn=lambda text, **kwargs: lines.append(text))
    text = "\n".join(lines)
    rows, cells = [], None
    if "│" in text:  # Keras: rows of "│ cell │ cell │", closed by a "├" or "└" rule
        for line in text.splitlines():
            if line.startswith("│"):
                parts = [part.strip() for part in line.strip().strip("│").split("│")]
                cells = cells or [[] for _ in parts]
                for cell, part in zip(cells, parts, strict=True):
                    cell.append(part) if part else None
            elif line.startswith(("├", "└")) and cells:
                rows.append(tuple(" ".join(cell) for cell in cells[:3]))
                cells = None
    else:  # scratchnet: the lines between the two rules, columns two spaces apart
        body = text.split("\n-")[1].split("\n")[1:]
        rows = [tuple(re.split(r"\s{2,}", line.strip())[:3]) for line in body]
    totals = re.findall(r"((?:Total|Trainable|Non-trainable) params: [\d,]+)", text)
    return rows, totals


def assert_same_summary(model, kmodel) -> None:
    """The same rows and totals; a cell Keras cut short ("gap (GlobalAveragePool…") matches
    scratchnet's full text by its beginning."""
    (rows, totals), (krows, ktotals) = summary_rows(model), summary_rows(kmodel)
    assert totals == ktotals and len(totals) == 3
    assert len(rows) == len(krows) == len(model.layers)
    for row, krow in zip(rows, krows, strict=True):
        for cell, kcell in zip(row, krow, strict=True):
            assert cell.startswith(kcell[:-1]) if kcell.endswith("…") else cell == kcell, (row, krow)


def mlp(lib):
    """The guide's first model: 784 -> 64 -> 64 -> 10 logits (784 kept: it is the summary)."""
    inputs = lib.Input(shape=(784,), name="pixels")
    x = lib.layers.Dense(64, activation="relu", name="hidden_1")(inputs)
    x = lib.layers.Dense(64, activation="relu", name="hidden_2")(x)
    outputs = lib.layers.Dense(10, name="logits")(x)
    return lib.Model(inputs=inputs, outputs=outputs, name="mnist_model")


def mnist_like(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.integers(0, 256, (n, 28, 28)).reshape(n, 784).astype("float32") / 255)
    return x, rng.integers(0, 10, n)


def plain(config):
    """A config with tuples as lists (Keras keeps shapes as tuples, JSON as lists)."""
    return json.loads(json.dumps(config))


# ---------------------------------------------------------------------------- introduction
def test_input_shape_dtype_names_and_summary_equal_keras():
    kinputs, inputs = keras.Input(shape=(32, 32, 3)), sn.Input(shape=(32, 32, 3))
    assert tuple(inputs.shape) == tuple(kinputs.shape) == (None, 32, 32, 3)
    assert inputs.dtype == kinputs.dtype == "float32"
    model, kmodel = mlp(sn), mlp(keras)
    assert model.name == kmodel.name == "mnist_model"
    assert [layer.name for layer in model.layers] == [layer.name for layer in kmodel.layers]
    rows, totals = summary_rows(model)
    krows, ktotals = summary_rows(kmodel)
    assert rows == krows and len(rows) == 4
    assert rows[1] == ("hidden_1 (Dense)", "(None, 64)", "50,240")
    assert totals == ktotals == ["Total params: 55,050", "Trainable params: 55,050",
                                 "Non-trainable params: 0"]


def test_plot_model_writes_a_png_where_keras_needs_graphviz(tmp_path):
    """scratchnet draws the graph itself; Keras needs pydot and graphviz and, without them,
    raises ImportError saying so. Either way the guide's call is one line."""
    model = mlp(sn)
    sn.utils.plot_model(model, str(tmp_path / "model.png"), show_shapes=True)
    assert (tmp_path / "model.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    try:
        keras.utils.plot_model(mlp(keras), str(tmp_path / "kmodel.png"), show_shapes=True)
    except ImportError as err:
        assert "graphviz" in str(err) or "pydot" in str(err)
    else:
        assert (tmp_path / "kmodel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------- training
def test_fit_with_validation_split_and_evaluate_equal_keras():
    """RMSprop, sparse categorical cross-entropy from logits, accuracy, validation_split=0.2."""
    model, kmodel = mlp(sn), mlp(keras)
    copy_weights_by_name(kmodel, model)
    x, y = mnist_like()
    for lib, m in ((sn, model), (keras, kmodel)):
        m.compile(loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
                  optimizer=lib.optimizers.RMSprop(), metrics=["accuracy"])
    history = model.fit(x, y, batch_size=8, epochs=2, validation_split=0.2, shuffle=False, verbose=0)
    khistory = kmodel.fit(x, y, batch_size=8, epochs=2, validation_split=0.2, shuffle=False, verbose=0)
    assert sorted(history.history) == sorted(khistory.history) == [
        "accuracy", "loss", "val_accuracy", "val_loss"]
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        assert_close(history.history[key], khistory.history[key], TRAJECTORY_RTOL, key)
    for w, kw in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, "weights after 2 epochs of RMSprop")
    scores, kscores = model.evaluate(x, y, verbose=0), kmodel.evaluate(x, y, verbose=0)
    assert_close(scores, kscores, TRAJECTORY_RTOL, "evaluate() [loss, accuracy]")


# ---------------------------------------------------------------------------- saving
def test_save_needs_an_extension_and_keras_files_load_both_ways(tmp_path):
    model, kmodel = mlp(sn), mlp(keras)
    copy_weights_by_name(kmodel, model)
    for m in (model, kmodel):
        with pytest.raises(ValueError, match="path_to_my_model"):
            m.save(str(tmp_path / "path_to_my_model"))
    x, _ = mnist_like(4, seed=1)
    expected = np.asarray(kmodel(x))
    kmodel.save(tmp_path / "k.keras")
    model.save(tmp_path / "s.keras")
    back, kback = sn.models.load_model(tmp_path / "k.keras"), keras.models.load_model(tmp_path / "s.keras")
    assert back.name == kback.name == "mnist_model"
    assert_close(back.predict(x, verbose=0), expected, FORWARD_RTOL, "Keras' file read by scratchnet")
    assert_close(np.asarray(kback(x)), expected, FORWARD_RTOL, "scratchnet's file read by Keras")


# ---------------------------------------------------------------------------- several models
def encoder_decoder(lib, nested: bool):
    """The guide's convolutional encoder (28x28x1 -> 16) and its mirror-image decoder, either
    one graph used by two models or two models chained by calling them."""
    L = lib.layers
    image = lib.Input(shape=(28, 28, 1), name="img")
    x = L.Conv2D(4, 3, activation="relu", name="enc_1")(image)
    x = L.Conv2D(8, 3, activation="relu", name="enc_2")(x)
    x = L.MaxPooling2D(3, name="enc_pool")(x)
    x = L.Conv2D(8, 3, activation="relu", name="enc_3")(x)
    x = L.Conv2D(16, 3, activation="relu", name="enc_4")(x)
    code = L.GlobalMaxPooling2D(name="enc_gmp")(x)
    encoder = lib.Model(image, code, name="encoder")
    decoder_input = lib.Input(shape=(16,), name="encoded_img") if nested else code
    x = L.Reshape((4, 4, 1), name="dec_reshape")(decoder_input)
    x = L.Conv2DTranspose(4, 3, activation="relu", name="dec_1")(x)
    x = L.Conv2DTranspose(8, 3, activation="relu", name="dec_2")(x)
    x = L.UpSampling2D(3, name="dec_up")(x)
    x = L.Conv2DTranspose(4, 3, activation="relu", name="dec_3")(x)
    decoded = L.Conv2DTranspose(1, 3, activation="relu", name="dec_4")(x)
    if not nested:
        return encoder, lib.Model(image, decoded, name="autoencoder")
    decoder = lib.Model(decoder_input, decoded, name="decoder")
    outer = lib.Input(shape=(28, 28, 1), name="img")
    return encoder, decoder, lib.Model(outer, decoder(encoder(outer)), name="autoencoder")


def test_one_graph_two_models_equal_keras():
    encoder, autoencoder = encoder_decoder(sn, False)
    kencoder, kautoencoder = encoder_decoder(keras, False)
    assert tuple(autoencoder.output_shape) == tuple(kautoencoder.output_shape) == (None, 28, 28, 1)
    assert_same_summary(encoder, kencoder)
    assert_same_summary(autoencoder, kautoencoder)
    copy_weights_by_name(kautoencoder, autoencoder)
    x = np.random.default_rng(2).random((2, 28, 28, 1)).astype("float32")
    assert_close(encoder.predict(x, verbose=0), np.asarray(kencoder(x)), FORWARD_RTOL, "encoder")
    assert_close(autoencoder.predict(x, verbose=0), np.asarray(kautoencoder(x)), FORWARD_RTOL,
                 "autoencoder (the encoder's layers shared)")


def test_models_called_like_layers_equal_keras():
    """The decoder applied to the encoder's output: the weights are the sub-models' own."""
    encoder, decoder, autoencoder = encoder_decoder(sn, True)
    kencoder, kdecoder, kautoencoder = encoder_decoder(keras, True)
    copy_weights_by_name(kencoder, encoder)
    copy_weights_by_name(kdecoder, decoder)
    assert tuple(autoencoder.output_shape) == tuple(kautoencoder.output_shape)
    assert autoencoder.count_params() == kautoencoder.count_params() == \
        encoder.count_params() + decoder.count_params()
    x = np.random.default_rng(3).random((2, 28, 28, 1)).astype("float32")
    assert_close(autoencoder.predict(x, verbose=0), np.asarray(kautoencoder(x)), FORWARD_RTOL,
                 "encoder then decoder, nested")
    for w, kw in zip(autoencoder.get_weights(), kautoencoder.get_weights(), strict=True):
        np.testing.assert_array_equal(w, kw)  # the same arrays, in Keras' order


def test_ensemble_average_equal_keras():
    def ensemble(lib):
        members = []
        for k in range(3):
            inputs = lib.Input(shape=(6,))
            members.append(lib.Model(inputs, lib.layers.Dense(1, name=f"head_{k}")(inputs),
                                     name=f"member_{k}"))
        inputs = lib.Input(shape=(6,))
        return members, lib.Model(inputs, lib.layers.average([m(inputs) for m in members]))

    (members, model), (kmembers, kmodel) = ensemble(sn), ensemble(keras)
    for member, kmember in zip(members, kmembers, strict=True):
        member.set_weights(kmember.get_weights())
    x = np.random.default_rng(4).normal(size=(5, 6)).astype("float32")
    expected = np.mean([np.asarray(m(x)) for m in kmembers], axis=0)
    assert_close(model.predict(x, verbose=0), np.asarray(kmodel(x)), FORWARD_RTOL, "ensemble")
    assert_close(model.predict(x, verbose=0), expected, FORWARD_RTOL, "mean of the members")


# ---------------------------------------------------------------------------- several inputs/outputs
def ticket_model(lib, words=50, tags=6, departments=4):
    """Title and body (int sequences of any length) and tag flags in; priority and department
    logits out."""
    L = lib.layers
    title = lib.Input(shape=(None,), name="title")
    body = lib.Input(shape=(None,), name="body")
    tag_flags = lib.Input(shape=(tags,), name="tags")
    title_features = L.LSTM(8, name="title_lstm")(L.Embedding(words, 6, name="title_embed")(title))
    body_features = L.LSTM(4, name="body_lstm")(L.Embedding(words, 6, name="body_embed")(body))
    x = L.concatenate([title_features, body_features, tag_flags], name="features")
    priority = L.Dense(1, name="priority")(x)
    department = L.Dense(departments, name="department")(x)
    return lib.Model(inputs=[title, body, tag_flags], outputs=[priority, department])


def ticket_data(n=16, seed=5):
    """No word id repeats within a batch of 4: for a repeated id Keras' TF backend squares each
    occurrence's gradient slice before summing (RMSprop's accumulator), docs/parity-notes.md."""
    rng = np.random.default_rng(seed)
    title = np.concatenate([rng.permutation(50)[:20].reshape(4, 5) for _ in range(n // 4)])
    body = np.concatenate([rng.permutation(50)[:36].reshape(4, 9) for _ in range(n // 4)])
    x = {"title": title, "body": body, "tags": rng.integers(2, size=(n, 6)).astype("float32")}
    y = {"priority": rng.random(size=(n, 1)).astype("float32"),
         "department": rng.integers(2, size=(n, 4)).astype("float32")}
    return x, y


@pytest.mark.parametrize("form", ["lists", "dicts"])
def test_two_losses_weighted_fit_equal_keras(form):
    model, kmodel = ticket_model(sn), ticket_model(keras)
    assert model.output_names == list(kmodel.output_names) == ["priority", "department"]
    assert summary_rows(model)[1] == summary_rows(kmodel)[1]
    rng = np.random.default_rng(6)
    weights = [rng.normal(0, 0.3, w.shape).astype("float32") for w in kmodel.get_weights()]
    kmodel.set_weights(weights)
    copy_weights_by_name(kmodel, model)
    for lib, m in ((sn, model), (keras, kmodel)):
        losses = [lib.losses.BinaryCrossentropy(from_logits=True),
                  lib.losses.CategoricalCrossentropy(from_logits=True)]
        if form == "lists":
            m.compile(optimizer=lib.optimizers.RMSprop(1e-3), loss=losses, loss_weights=[1.0, 0.2])
        else:
            m.compile(optimizer=lib.optimizers.RMSprop(1e-3),
                      loss=dict(zip(["priority", "department"], losses, strict=True)),
                      loss_weights={"priority": 1.0, "department": 0.2})
    x, y = ticket_data()
    history = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    khistory = kmodel.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    assert sorted(history) == sorted(khistory) == ["department_loss", "loss", "priority_loss"]
    for key in khistory:
        assert_close(history[key], khistory[key], TRAJECTORY_RTOL, f"history[{key!r}]")
    for klayer in (layer for layer in kmodel.layers if layer.weights):
        for w, kw in zip(model.get_layer(klayer.name).get_weights(), klayer.get_weights(), strict=True):
            assert_close(w, kw, TRAJECTORY_RTOL, f'"{klayer.name}" after 8 RMSprop steps')


# ---------------------------------------------------------------------------- toy ResNet
def toy_resnet(lib, dropout=0.5):
    L = lib.layers
    inputs = lib.Input(shape=(16, 16, 3), name="img")
    x = L.Conv2D(8, 3, activation="relu", name="c1")(inputs)
    x = L.Conv2D(8, 3, activation="relu", name="c2")(x)
    block_1 = L.MaxPooling2D(3, name="pool")(x)
    x = L.Conv2D(8, 3, activation="relu", padding="same", name="c3")(block_1)
    x = L.Conv2D(8, 3, activation="relu", padding="same", name="c4")(x)
    block_2 = L.add([x, block_1], name="skip_1")
    x = L.Conv2D(8, 3, activation="relu", padding="same", name="c5")(block_2)
    x = L.Conv2D(8, 3, activation="relu", padding="same", name="c6")(x)
    block_3 = L.add([x, block_2], name="skip_2")
    x = L.Conv2D(8, 3, activation="relu", name="c7")(block_3)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dense(16, activation="relu", name="fc")(x)
    x = L.Dropout(dropout, name="drop")(x)
    return lib.Model(inputs, L.Dense(10, name="out")(x), name="toy_resnet")


def cifar_like(n=20, seed=7):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 16, 16, 3)).astype("float32") / 255.0
    return x, rng.integers(0, 10, (n, 1))


def test_toy_resnet_summary_predict_and_fit_equal_keras():
    """Dropout(0.5) draws different masks in the two libraries, so the fit is compared with
    rate 0 (the same graph); predict (no dropout) runs the guide's model as it is."""
    model, kmodel = toy_resnet(sn), toy_resnet(keras)
    assert_same_summary(model, kmodel)
    copy_weights_by_name(kmodel, model)
    x, labels = cifar_like()
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "predict")
    y, ky = sn.utils.to_categorical(labels, 10), keras.utils.to_categorical(labels, 10)
    np.testing.assert_array_equal(y, ky)
    assert y.shape == (20, 10)
    model, kmodel = toy_resnet(sn, dropout=0.0), toy_resnet(keras, dropout=0.0)
    copy_weights_by_name(kmodel, model)
    for lib, m in ((sn, model), (keras, kmodel)):
        m.compile(optimizer=lib.optimizers.RMSprop(1e-3),
                  loss=lib.losses.CategoricalCrossentropy(from_logits=True), metrics=["acc"])
    history = model.fit(x, y, batch_size=8, epochs=1, validation_split=0.2, shuffle=False, verbose=0)
    khistory = kmodel.fit(x, ky, batch_size=8, epochs=1, validation_split=0.2, shuffle=False, verbose=0)
    assert sorted(history.history) == sorted(khistory.history) == ["acc", "loss", "val_acc", "val_loss"]
    for key in ("loss", "val_loss", "acc", "val_acc"):
        assert_close(history.history[key], khistory.history[key], TRAJECTORY_RTOL, key)


# ---------------------------------------------------------------------------- shared layers, features
def test_shared_embedding_one_set_of_weights():
    def shared(lib):
        embedding = lib.layers.Embedding(30, 4, name="shared")
        a, b = lib.Input(shape=(None,), dtype="int32"), lib.Input(shape=(None,), dtype="int32")
        return lib.Model([a, b], [embedding(a), embedding(b)])

    model, kmodel = shared(sn), shared(keras)
    assert len(model.weights) == len(kmodel.weights) == 1
    model.set_weights(kmodel.get_weights())
    ids = np.random.default_rng(8).integers(30, size=(3, 5))
    out, kout = model.predict([ids, ids[:, ::-1]], verbose=0), kmodel.predict([ids, ids[:, ::-1]], verbose=0)
    for o, ko in zip(out, kout, strict=True):
        assert_close(o, ko, FORWARD_RTOL, "shared embedding")
    np.testing.assert_array_equal(out[0][:, ::-1], out[1])


def test_feature_extraction_from_every_layer_output_equal_keras():
    model, kmodel = toy_resnet(sn), toy_resnet(keras)
    copy_weights_by_name(kmodel, model)
    features = sn.Model(inputs=model.input, outputs=[layer.output for layer in model.layers])
    kfeatures = keras.Model(inputs=kmodel.input, outputs=[layer.output for layer in kmodel.layers])
    x, _ = cifar_like(2, seed=9)
    out, kout = features(x), kfeatures(x)
    assert len(out) == len(kout) == len(kmodel.layers)
    for layer, o, ko in zip(kmodel.layers, out, kout, strict=True):
        assert_close(o, np.asarray(ko), FORWARD_RTOL, f'the output of "{layer.name}"')


def test_vgg19_layer_outputs_are_symbolic_as_in_keras():
    vgg, kvgg = (lib.applications.VGG19(weights=None, include_top=False, input_shape=(32, 32, 3))
                 for lib in (sn, keras))
    assert [layer.name for layer in vgg.layers][1:] == [layer.name for layer in kvgg.layers][1:]
    shapes = [tuple(layer.output.shape) for layer in vgg.layers]
    assert shapes == [tuple(layer.output.shape) for layer in kvgg.layers]
    assert shapes[-1] == (None, 1, 1, 512)


# ---------------------------------------------------------------------------- custom layers, config
def custom_dense_class(lib):
    """The guide's CustomDense with a get_config of its constructor argument only."""

    class CustomDense(lib.layers.Layer):
        def __init__(self, units=32):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal",
                                     trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

        def call(self, inputs):
            return lib.ops.matmul(inputs, self.w) + self.b

        def get_config(self):
            return {"units": self.units}

    return CustomDense


def custom_dense_model(lib, CustomDense):
    inputs = lib.Input((4,), name="features")
    return lib.Model(inputs, CustomDense(3)(inputs), name="custom")


def test_get_config_and_from_config_with_a_custom_layer_equal_keras():
    CustomDense, KCustomDense = custom_dense_class(sn), custom_dense_class(keras)
    model, kmodel = custom_dense_model(sn, CustomDense), custom_dense_model(keras, KCustomDense)
    config, kconfig = plain(model.get_config()), plain(kmodel.get_config())
    assert sorted(config) == sorted(kconfig) == ["input_layers", "layers", "name", "output_layers",
                                                 "trainable"]
    layer, klayer = config["layers"][1], kconfig["layers"][1]
    assert layer["config"] == klayer["config"] == {"units": 3}  # the user's get_config, as it is
    assert layer["class_name"] == klayer["class_name"] == "CustomDense"
    assert layer["inbound_nodes"] == klayer["inbound_nodes"]
    assert config["input_layers"] == kconfig["input_layers"] == ["features", 0, 0]
    assert config["output_layers"] == [klayer["name"], 0, 0] == kconfig["output_layers"]
    x = np.random.default_rng(10).normal(size=(2, 4)).astype("float32")
    new = sn.Model.from_config(model.get_config(), custom_objects={"CustomDense": CustomDense})
    knew = keras.Model.from_config(kmodel.get_config(), custom_objects={"CustomDense": KCustomDense})
    from_keras = sn.Model.from_config(kconfig, custom_objects={"CustomDense": CustomDense})
    to_keras = keras.Model.from_config(config, custom_objects={"CustomDense": KCustomDense})
    for built in (new, knew, from_keras, to_keras):
        assert built.name == "custom"
        assert [tuple(w.shape) for w in built.get_weights()] == [(4, 3), (3,)]
    new.set_weights(kmodel.get_weights())
    from_keras.set_weights(kmodel.get_weights())
    assert_close(new.predict(x, verbose=0), np.asarray(kmodel(x)), FORWARD_RTOL, "from its own config")
    assert_close(from_keras.predict(x, verbose=0), np.asarray(kmodel(x)), FORWARD_RTOL, "from Keras' config")


def test_sequential_from_config_and_subclassed_fallback_as_in_keras():
    """``Sequential.from_config`` reads its own config and Keras'; a config without the
    functional keys goes to ``cls(**config)``, with Keras' TypeError when it does not fit."""
    def stack(lib):
        return lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, name="d")], name="stack")

    model, kmodel = stack(sn), stack(keras)
    for config in (model.get_config(), plain(kmodel.get_config())):
        back = sn.Sequential.from_config(config)
        assert back.name == "stack" and [tuple(w.shape) for w in back.get_weights()] == [(3, 2), (2,)]
    with pytest.raises(ValueError, match="'name' and 'layers'"):
        sn.Sequential.from_config({"layers": []})
    with pytest.raises(ValueError):
        keras.Sequential.from_config({"layers": []})
    for lib in (sn, keras):
        class Scaled(lib.Model):
            def __init__(self, factor=2.0, **kwargs):
                super().__init__(**kwargs)
                self.factor = factor

            def call(self, inputs):
                return inputs * self.factor

        assert Scaled.from_config({"factor": 3.0}).factor == 3.0
        with pytest.raises(ValueError, match="Unrecognized keyword arguments passed to Scaled"):
            Scaled.from_config({"factor": 3.0, "units": 4})


# ---------------------------------------------------------------------------- mix and match
def test_functional_model_inside_a_subclassed_layer_equal_keras():
    """A layer holding two Dense projections and a functional classifier (the guide's mix of
    styles; its CustomRNN, called eagerly, is in test_eager_batch_size_keras.py)."""
    def build(lib):
        inputs = lib.Input((None, 8))
        classifier = lib.Model(inputs, lib.layers.Dense(1, name="score")(
            lib.layers.GlobalAveragePooling1D()(inputs)), name="classifier")

        class Projected(lib.layers.Layer):
            def __init__(self):
                super().__init__()
                self.projection_1 = lib.layers.Dense(8, activation="tanh", name="p1")
                self.projection_2 = lib.layers.Dense(8, activation="tanh", name="p2")
                self.classifier = classifier

            def call(self, inputs):
                h = self.projection_1(inputs)
                return self.classifier(h + self.projection_2(h))

        seq = lib.Input(batch_shape=(4, 6, 5))
        conv = lib.layers.Conv1D(5, 3, name="conv")(seq)
        return classifier, lib.Model(seq, Projected()(conv))

    (classifier, model), (kclassifier, kmodel) = build(sn), build(keras)
    assert tuple(model.output_shape) == tuple(kmodel.output_shape) == (4, 1)
    assert classifier.count_params() == kclassifier.count_params() == 9  # counted in the outer model:
    assert model.count_params() == kmodel.count_params() == 5 * 3 * 5 + 5 + (5 * 8 + 8) + (8 * 8 + 8) + 9
    rng = np.random.default_rng(11)
    weights = [rng.normal(0, 0.4, w.shape).astype("float32") for w in kmodel.get_weights()]
    kmodel.set_weights(weights)
    model.set_weights(weights)
    x = rng.normal(size=(4, 6, 5)).astype("float32")
    assert_close(model.predict(x, verbose=0), np.asarray(kmodel(x)), FORWARD_RTOL, "mixed styles")
