"""keras.io's guide "Introduction to Keras for engineers", its backend-agnostic parts, in both
libraries on generated MNIST-shaped data scaled down (10x10x1 images, 3 classes):

- the convnet Sequential: layer output shapes and parameter counts as Keras' summary lists them;
- ``compile`` with SparseCategoricalCrossentropy, Adam(1e-3) and
  ``SparseCategoricalAccuracy(name="acc")``, ``fit`` with ``validation_split=0.15``,
  ``ModelCheckpoint(filepath="model_at_epoch_{epoch}.keras")`` and
  ``EarlyStopping(monitor="val_loss", patience=2)``, ``evaluate``: histories, files and weights;
- ``model.save("final_model.keras")`` and ``keras.saving.load_model``, across the two libraries,
  then ``predict``;
- the custom components: ``MyDense`` (``add_weight`` with GlorotNormal/Zeros, ``keras.ops``,
  ``keras.activations.get``), ``MyDropout`` (``keras.random.SeedGenerator`` and
  ``keras.random.dropout``), and the subclassed ``MyModel`` holding a Sequential, trained with
  ``fit(validation_split=...)``.

Dropout draws from each library's own generator, so the numbers are compared with the rate at 0
(the rate-0.5 program is run for its history keys and files, and dropout's rule is checked on
its own). The PyTorch DataLoader and tf.data sections need those libraries' objects: out of scope.
Tolerances (driver.py): outputs FORWARD_RTOL, losses and weights after training TRAJECTORY_RTOL.
"""

import os

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, TRAJECTORY_RTOL, assert_close

RNG = np.random.default_rng(0)
X = RNG.random((40, 10, 10, 1)).astype("float32")
Y = RNG.integers(0, 3, 40)


def _convnet(K, rate, **seed):
    return K.Sequential([
        K.layers.Input(shape=(10, 10, 1)),
        K.layers.Conv2D(4, kernel_size=(3, 3), activation="relu"),
        K.layers.Conv2D(4, kernel_size=(3, 3), activation="relu"),
        K.layers.MaxPooling2D(pool_size=(2, 2)),
        K.layers.Conv2D(6, kernel_size=(3, 3), activation="relu"),
        K.layers.GlobalAveragePooling2D(),
        K.layers.Dropout(rate),
        K.layers.Dense(3, activation="softmax"),
    ], **seed)


def _compile(K, model):
    model.compile(loss=K.losses.SparseCategoricalCrossentropy(),
                  optimizer=K.optimizers.Adam(learning_rate=1e-3),
                  metrics=[K.metrics.SparseCategoricalAccuracy(name="acc")])


def _fit(K, model, folder, epochs=3):
    callbacks = [K.callbacks.ModelCheckpoint(filepath=os.path.join(folder, "model_at_epoch_{epoch}.keras")),
                 K.callbacks.EarlyStopping(monitor="val_loss", patience=2)]
    return model.fit(X, Y, batch_size=8, epochs=epochs, validation_split=0.15, callbacks=callbacks,
                     shuffle=False, verbose=0).history


def test_the_convnet_has_keras_shapes_and_counts():
    ours, theirs = _convnet(sn, 0.5, seed=0), _convnet(keras, 0.5)
    counts = [[layer.count_params() for layer in model.layers] for model in (ours, theirs)]
    assert counts[0] == counts[1]
    assert [tuple(layer.output.shape) for layer in ours.layers] == \
        [tuple(layer.output.shape) for layer in theirs.layers]
    assert ours.count_params() == theirs.count_params()


def test_fit_with_checkpoints_and_early_stopping_then_evaluate(tmp_path):
    ours, theirs = _convnet(sn, 0.0, seed=0), _convnet(keras, 0.0)
    ours.set_weights(theirs.get_weights())
    histories = []
    for K, model, folder in ((sn, ours, tmp_path / "sn"), (keras, theirs, tmp_path / "keras")):
        folder.mkdir()
        _compile(K, model)
        histories.append(_fit(K, model, str(folder)))
    assert sorted(histories[0]) == sorted(histories[1]) == ["acc", "loss", "val_acc", "val_loss"]
    for key in ("loss", "val_loss"):
        assert_close(histories[0][key], histories[1][key], TRAJECTORY_RTOL, key)
    for key in ("acc", "val_acc"):
        assert histories[0][key] == pytest.approx(histories[1][key])
    assert sorted(os.listdir(tmp_path / "sn")) == sorted(os.listdir(tmp_path / "keras")) == \
        [f"model_at_epoch_{epoch}.keras" for epoch in (1, 2, 3)]
    for w, kw in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, "weights after 3 epochs")
    assert_close(ours.evaluate(X, Y, verbose=0), theirs.evaluate(X, Y, verbose=0), TRAJECTORY_RTOL,
                 "evaluate: loss and acc")
    # a checkpoint one library wrote opens in the other, with the same predictions
    k_from_ours = keras.saving.load_model(str(tmp_path / "sn" / "model_at_epoch_2.keras"))
    ours_from_keras = sn.saving.load_model(str(tmp_path / "keras" / "model_at_epoch_2.keras"))
    assert_close(ours_from_keras.predict(X[:5], verbose=0), k_from_ours.predict(X[:5], verbose=0),
                 TRAJECTORY_RTOL, "epoch-2 checkpoints, each read by the other library")


def test_the_guides_dropout_program_runs_and_saves_across_libraries(tmp_path):
    ours = _convnet(sn, 0.5, seed=0)
    _compile(sn, ours)
    history = _fit(sn, ours, str(tmp_path), epochs=2)
    assert sorted(history) == ["acc", "loss", "val_acc", "val_loss"] and len(history["loss"]) == 2
    path = str(tmp_path / "final_model.keras")
    ours.save(path)
    theirs = keras.saving.load_model(path)
    again = sn.saving.load_model(path)
    expected = ours.predict(X, verbose=0)
    assert_close(np.asarray(theirs.predict(X, verbose=0)), expected, FORWARD_RTOL, "Keras reads ours")
    assert_close(again.predict(X, verbose=0), expected, FORWARD_RTOL, "we read ours")
    assert expected.shape == (40, 3)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0, rtol=1e-5)


def _components(K):
    class MyDense(K.layers.Layer):
        def __init__(self, units, activation=None, name=None):
            super().__init__(name=name)
            self.units = units
            self.activation = K.activations.get(activation)

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                     initializer=K.initializers.GlorotNormal(), name="kernel",
                                     trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer=K.initializers.Zeros(),
                                     name="bias", trainable=True)

        def call(self, inputs):
            return self.activation(K.ops.matmul(inputs, self.w) + self.b)

    class MyDropout(K.layers.Layer):
        def __init__(self, rate, name=None):
            super().__init__(name=name)
            self.rate = rate
            self.seed_generator = K.random.SeedGenerator(1337)

        def call(self, inputs):
            return K.random.dropout(inputs, self.rate, seed=self.seed_generator)

    class MyModel(K.Model):
        def __init__(self, num_classes, rate):
            super().__init__()
            self.conv_base = K.Sequential([
                K.layers.Conv2D(4, kernel_size=(3, 3), activation="relu"),
                K.layers.MaxPooling2D(pool_size=(2, 2)),
                K.layers.Conv2D(6, kernel_size=(3, 3), activation="relu"),
                K.layers.GlobalAveragePooling2D(),
            ])
            self.dp = MyDropout(rate)
            self.dense = MyDense(num_classes, activation="softmax")

        def call(self, x):
            return self.dense(self.dp(self.conv_base(x)))

    return MyDense, MyDropout, MyModel


def test_the_subclassed_model_of_custom_layers_trains_as_keras():
    ours, theirs = _components(sn)[2](3, 0.0), _components(keras)[2](3, 0.0)
    theirs(X[:2])
    ours(X[:2])
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.weights]
    # MyDropout's SeedGenerator state: in variables (after the conv base's), not in weights
    assert [v.name.split("/")[-1] for v in ours.variables] == [v.name for v in theirs.variables]
    assert [v.name.split("/")[-1] for v in ours.non_trainable_variables] == \
        [v.name for v in theirs.non_trainable_variables] == ["seed_generator_state"]
    ours.set_weights(theirs.get_weights())
    assert_close(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), FORWARD_RTOL, "MyModel")
    histories = []
    for K, model in ((sn, ours), (keras, theirs)):
        _compile(K, model)
        histories.append(model.fit(X, Y, batch_size=8, epochs=1, validation_split=0.15, shuffle=False,
                                   verbose=0).history)
    for key in ("loss", "val_loss"):
        assert_close(histories[0][key], histories[1][key], TRAJECTORY_RTOL, key)
    for w, kw in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, "weights after one epoch")


def test_my_dense_with_a_softmax_from_activations_get():
    ours, theirs = _components(sn)[0](4, activation="softmax"), _components(keras)[0](4, activation="softmax")
    x = RNG.standard_normal((5, 3)).astype("float32")
    k_out = np.asarray(theirs(x))
    ours(x)
    ours.set_weights(theirs.get_weights())
    assert_close(ours(x), k_out, FORWARD_RTOL, "MyDense(softmax)")
    assert_close(sn.activations.get("softmax")(x), keras.activations.get("softmax")(x), FORWARD_RTOL,
                 'activations.get("softmax")(x)')


def test_my_dropout_keeps_and_scales_as_keras_does():
    x = np.ones((64, 16), "float32")
    for K in (sn, keras):
        out = np.asarray(_components(K)[1](0.5)(x))
        kept = out != 0
        np.testing.assert_allclose(out[kept], 2.0)  # kept values scaled by 1 / (1 - rate)
        assert 0.35 < kept.mean() < 0.65
