"""Every bad input a learner is likely to try, and the message it gets.

Each row: what is done, the exception type, and fragments the message must contain (the layer
or argument, and the expected and received values).
"""

import numpy as np
import pytest

import scratchnet as sn

L = sn.layers
SCCE = sn.losses.SparseCategoricalCrossentropy(from_logits=True)


def _model(compile=True):
    model = sn.Sequential([L.Input((4, 4, 1)), L.Conv2D(2, 3), L.Flatten(), L.Dense(3)], seed=0)
    if compile:
        model.compile(optimizer="adam", loss=SCCE, metrics=["accuracy"])
    return model


def _compiled_without_a_loss(metrics=None):
    """Keras takes compile() with no loss (the loss is then model.losses alone)."""
    model = _model(False)
    model.compile(optimizer="sgd", metrics=metrics)
    return model


def _dict_output_model():
    """A functional model with a dict of two outputs, keyed "reg" and "cls"."""
    inputs = L.Input((3,))
    return sn.Model(inputs, {"reg": L.Dense(1)(inputs), "cls": L.Dense(2)(inputs)})


X = np.zeros((5, 4, 4, 1), np.float32)
Y = np.array([0, 1, 2, 1, 0])

CASES = {
    # --- layer construction -----------------------------------------------------------------
    "dense zero units": (lambda: L.Dense(0), ValueError, ["Dense", "units", "positive integer", "0"]),
    "dense float units": (lambda: L.Dense(2.5), ValueError, ["units", "2.5"]),
    "conv negative filters": (lambda: L.Conv2D(-1, 3), ValueError, ["filters", "-1"]),
    "conv kernel triple": (lambda: L.Conv2D(2, (3, 3, 3)), ValueError,
                           ["kernel_size", "tuple of 2", "(3, 3, 3)"]),
    "conv unknown padding": (lambda: L.Conv2D(2, 3, padding="full"), ValueError,
                             ["padding", "'valid', 'same'", "'full'"]),
    "conv strides with dilation": (lambda: L.Conv2D(2, 3, strides=2, dilation_rate=2), ValueError,
                                   ["strides", "dilation_rate"]),
    "unknown activation": (lambda: L.Dense(2, activation="swiss"), ValueError,
                           ["activation", "'swiss'", "relu"]),
    "pool zero size": (lambda: L.MaxPooling2D(0), ValueError, ["pool_size", "0"]),
    "dropout rate 1": (lambda: L.Dropout(1.0), ValueError, ["Dropout", "rate", "[0, 1)", "1.0"]),
    "input zero dim": (lambda: L.Input((0, 3)), ValueError, ["Input", "shape", "0"]),
    "unknown initializer": (lambda: L.Dense(2, kernel_initializer="stfft"), ValueError,
                            ["kernel_initializer", "'stfft'"]),
    "kernel bigger than input": (lambda: sn.Sequential([L.Input((2, 2, 1)), L.Conv2D(1, 3)]),
                                 ValueError, ["conv2d", "(3, 3)", "(2, 2)"]),
    "conv on flat input": (lambda: sn.Sequential([L.Input((5,)), L.Conv2D(1, 3)]), ValueError,
                           ["conv2d", "expected ndim=4", "found ndim=2"]),
    "not a layer": (lambda: sn.Sequential(["dense"]), TypeError, ["Layer", "'dense'"]),
    # --- optimizers and compile ---------------------------------------------------------------
    "negative learning rate": (lambda: sn.optimizers.Adam(-0.1), ValueError,
                               ["Adam", "learning_rate", "-0.1"]),
    "beta_1 of 1": (lambda: sn.optimizers.Adam(beta_1=1.0), ValueError, ["beta_1", "[0, 1)"]),
    "momentum 2": (lambda: sn.optimizers.SGD(momentum=2), ValueError, ["momentum", "2"]),
    "nan learning rate": (lambda: sn.optimizers.SGD(float("nan")), ValueError, ["learning_rate"]),
    "two clip options": (lambda: sn.optimizers.SGD(clipnorm=1, clipvalue=1), ValueError,
                         ["clipnorm", "clipvalue"]),
    "unknown optimizer": (lambda: _model(False).compile(optimizer="radam", loss=SCCE), ValueError,
                          ["optimizer", "'radam'", "adamw", "rmsprop", "sgd"]),
    "unknown loss": (lambda: _model(False).compile(optimizer="sgd", loss="no_such_loss"), ValueError,
                     ["loss", "'no_such_loss'"]),
    "no loss at all": (lambda: _compiled_without_a_loss().fit(X, Y, verbose=0), ValueError,
                       ["No loss to compute", "`compile()`"]),
    "no loss, metrics and no y": (lambda: _compiled_without_a_loss(["mae"]).fit(X, verbose=0),
                                  ValueError, ["without a loss", "metrics", "['mae']", "y=None"]),
    "unknown metric": (lambda: _model(False).compile("sgd", SCCE, metrics=["f1"]), ValueError,
                       ["metric", "'f1'", "accuracy"]),
    "fit before compile": (lambda: _model(False).fit(X, Y), ValueError, ["compile()", "fit"]),
    "evaluate before compile": (lambda: _model(False).evaluate(X, Y), ValueError,
                                ["compile()", "evaluate"]),
    "train_step before compile": (lambda: _model(False).train_step(X, Y), ValueError,
                                  ["compile()", "train_step"]),
    # --- Keras' layer arguments (input_shape=, input_dim=) ------------------------------------
    "unknown layer kwarg": (lambda: L.Dense(2, foo=3), ValueError,
                            ["Unrecognized keyword arguments", "Dense", "'foo': 3"]),
    "unknown conv kwarg": (lambda: L.Conv2D(2, 3, kernel_regulariser="l2"), ValueError,
                           ["Conv2D", "kernel_regulariser"]),
    "bad input_shape": (lambda: L.Dense(2, input_shape=(0, 3)), ValueError,
                        ["Dense", "input_shape", "(0, 3)"]),
    "trainable not a bool": (lambda: L.Dense(2, trainable="no"), TypeError,
                             ['layer "dense"', "trainable", "True or False", "'no'"]),
    "freezing with a string": (lambda: setattr(_model().layers[0], "trainable", "off"), TypeError,
                               ['layer "conv2d"', "True or False", "'off'"]),
    "freezing a model with None": (lambda: setattr(_model(), "trainable", None), TypeError,
                                   ['model "sequential', "True or False", "None"]),
    "1-D x for 3 features": (lambda: _dense_model().fit(np.zeros(5), np.zeros(5)), ValueError,
                             ["expected shape=(None, 3)", "found shape=(5,)"]),
    # --- data -----------------------------------------------------------------------------------
    "wrong sample shape": (lambda: _model().fit(np.zeros((5, 5, 5, 1)), Y), ValueError,
                           ["conv2d", "expected shape=(None, 4, 4, 1)", "found shape=(5, 5, 5, 1)"]),
    "wrong rank": (lambda: _model().predict(np.zeros((5, 16))), ValueError,
                   ["expected shape=(None, 4, 4, 1)", "(5, 16)"]),
    "string x": (lambda: _model().fit(np.full((5, 4, 4, 1), "a"), Y), TypeError, ["x", "<U1"]),
    "object x": (lambda: _model().predict(np.empty((5, 4, 4, 1), dtype=object)), TypeError,
                 ["x", "object"]),
    "complex x": (lambda: _model().predict(np.zeros((5, 4, 4, 1), complex)), TypeError,
                  ["x", "complex"]),
    "ragged x": (lambda: _model().predict([[1.0, 2.0], [1.0]]), ValueError, ["x", "ragged"]),
    "nan x": (lambda: _model().fit(np.full((5, 4, 4, 1), np.nan), Y), ValueError,
              ["x", "NaN", "(0, 0, 0, 0)"]),
    "inf x": (lambda: _model().predict(np.full((5, 4, 4, 1), np.inf)), ValueError, ["NaN or infinity"]),
    "empty x": (lambda: _model().fit(np.zeros((0, 4, 4, 1)), np.zeros(0)), ValueError,
                ["at least one sample", "(0, 4, 4, 1)"]),
    "x y lengths differ": (lambda: _model().fit(X, Y[:3]), ValueError,
                           ["x sizes: 5", "y sizes: 3"]),
    "label out of range": (lambda: _model().fit(X, np.array([0, 1, 2, 3, 0])), ValueError,
                           ["label value of 3", "[0, 2]"]),
    "negative label": (lambda: _model().train_step(X, np.array([0, -1, 2, 1, 0])), ValueError,
                       ["-1", "[0, 2]"]),
    "non-integer label": (lambda: _model().fit(X, Y + 0.5), ValueError, ["integer class labels"]),
    "string labels": (lambda: _model().fit(X, np.array(list("abcab"))), TypeError,
                      ["integer class labels", "<U1"]),
    "one-hot to sparse loss": (lambda: _model().fit(X, np.eye(3)[Y]), ValueError,
                               ["(5,)", "(5, 3)", "CategoricalCrossentropy"]),
    "sparse to categorical loss": (
        lambda: _cce_model().loss_and_grads(X, Y), ValueError,
        ["(5, 3)", "(5,)", "SparseCategoricalCrossentropy"]),
    "zero batch size": (lambda: _model().fit(X, Y, batch_size=0), ValueError, ["batch_size", "0"]),
    "negative epochs": (lambda: _model().fit(X, Y, epochs=-1), ValueError, ["epochs", "-1"]),
    "bad validation_data": (lambda: _model().fit(X, Y, validation_data=X), ValueError,
                            ["validation_data", "(x_val, y_val)"]),
    "validation_split 1": (lambda: _model().fit(X, Y, validation_split=1.0), ValueError,
                           ["validation_split", "1.0"]),
    "validation arrays of the wrong shape": (
        lambda: _model().fit(X, Y, validation_data=(X[:, :3], Y), verbose=0), ValueError,
        ["fit (validation_data)", "expected shape=(None, 4, 4, 1)", "(5, 3, 4, 1)"]),
    "validation_freq 0": (lambda: _model().fit(X, Y, validation_data=(X, Y), validation_freq=0,
                                               verbose=0), ValueError, ["validation_freq", "0"]),
    "zero steps_per_epoch": (lambda: _model().fit(X, Y, steps_per_epoch=0), ValueError,
                             ["steps_per_epoch", "positive integer", "0"]),
    # --- sample_weight and class_weight ---------------------------------------------------------
    "sample_weight length": (lambda: _model().fit(X, Y, sample_weight=np.ones(4), verbose=0),
                             ValueError, ["x sizes: 5", "sample_weight sizes: 4"]),
    "sample_weight shape": (lambda: _model().fit(X, Y, sample_weight=np.ones((5, 2)), verbose=0),
                            ValueError, ["sample_weight", "(5,)", "(5, 2)"]),
    "sample_weight strings": (lambda: _model().fit(X, Y, sample_weight=np.array(list("abcde"))),
                              TypeError, ["sample_weight", "<U1"]),
    "class and sample weight": (lambda: _model().fit(X, Y, sample_weight=np.ones(5),
                                                     class_weight={0: 2.0}), ValueError,
                                ["class_weight", "sample_weight", "same time"]),
    "class_weight not a dict": (lambda: _model().fit(X, Y, class_weight=[1, 2, 3]), ValueError,
                                ["class_weight", "dict", "[1, 2, 3]"]),
    # --- generators and PyDataset ---------------------------------------------------------------
    "validation_split with a generator": (
        lambda: _model().fit(_batches(2), validation_split=0.2), ValueError,
        ["validation_split", "generator"]),
    "generator with y": (lambda: _model().fit(_batches(2), Y), ValueError,
                         ["generator", "`y` should not be passed"]),
    "generator with class_weight": (lambda: _model().fit(_batches(2), class_weight={0: 1.0}),
                                    ValueError, ["class_weight", "generator"]),
    "empty generator": (lambda: _model().fit(iter([])), ValueError, ["generator", "at least one batch"]),
    "generator yields a list": (lambda: _model().fit(iter([[X, Y]]), verbose=0), ValueError,
                                ["batch 0 from the generator", "tuple", "list of 2"]),
    "generator yields x only": (lambda: _model().fit(iter([(X,)]), verbose=0), ValueError,
                                ["batch 0 from the generator", "targets y"]),
    "generator batch 2 bad shape": (
        lambda: _model().fit(iter([(X, Y), (X, Y), (np.zeros((5, 3, 3, 1)), Y)]), verbose=0),
        ValueError, ["batch 2 from the generator", "expected shape=(None, 4, 4, 1)", "(5, 3, 3, 1)"]),
    "PyDataset with y": (lambda: _model().fit(_Batches(), Y), ValueError,
                         ["PyDataset", "`y` should not be passed"]),
    "PyDataset bad batch": (lambda: _model().fit(_Batches(bad_at=1), verbose=0), ValueError,
                            ["batch 1 from the PyDataset _Batches", "label value of 7"]),
    "PyDataset of length 0": (lambda: _model().fit(_Batches(length=0), verbose=0), ValueError,
                              ["fit", "The PyDataset has length 0", "_Batches"]),
    "PyDataset of length 0 to predict": (lambda: _model().predict(_Batches(length=0)), ValueError,
                                         ["predict", "The PyDataset has length 0"]),
    # --- merging layers ---------------------------------------------------------------------------
    "concatenate axis out of range": (
        lambda: L.Concatenate(axis=3)([sn.Input((3,)), sn.Input((4,))]), ValueError,
        ["Concatenate", "axis 3", "-2 <= axis < 2", "(None, 3)"]),
    "concatenate negative axis out of range": (
        lambda: L.Concatenate(axis=-4)([np.zeros((2, 2, 3)), np.zeros((2, 2, 3))]), ValueError,
        ["Concatenate", "axis -4", "-3 <= axis < 3"]),
    "dot axes out of range": (lambda: L.Dot(axes=5)([sn.Input((3,)), sn.Input((3,))]), ValueError,
                              ["Dot", "axis 5", "-2 <= axis < 2"]),
    "dict outputs with a value that is no tensor": (
        lambda: sn.Model(sn.Input((3,)), {"reg": L.Dense(1), "cls": None}), ValueError,
        ["`outputs` values must be KerasTensors", "outputs['reg']", "Dense"]),
    "dict outputs, a loss for an unknown key": (
        lambda: _dict_output_model().compile("sgd", loss={"reg": "mse", "kind": "mse"}), KeyError,
        ["('kind',)", "`loss` argument", "['cls', 'reg']"]),
    "nested model of another input shape": (
        lambda: sn.Sequential([L.Input((5,)), sn.Sequential([L.Input((4,)), L.Dense(2)])]),
        ValueError, ['model "sequential', "(None, 4)", "(None, 5)"]),
    # --- optimizers shared between models ------------------------------------------------------
    "one optimizer for two models": (lambda: _second_model_on(_trained_optimizer()), ValueError,
                                     ["Unknown variable", "'conv2d/kernel'", "Adam",
                                      "recreate a new optimizer instance"]),
    # --- weights ----------------------------------------------------------------------------------
    "set_weights count": (lambda: _model().set_weights([np.zeros(1)]), ValueError,
                          ["4 arrays", "received 1"]),
    "set_weights shape": (lambda: _model().set_weights(_swap_first(_model().get_weights())),
                          ValueError, ["conv2d/kernel", "(3, 3, 1, 2)", "(2, 1, 3, 3)"]),
    "set_weights nan": (lambda: _model().set_weights([w * np.nan for w in _model().get_weights()]),
                        ValueError, ["conv2d/kernel", "NaN"]),
    "seed of the wrong type": (lambda: sn.Sequential([L.Dense(2)], seed="a"), ValueError,
                               ['Sequential "sequential"', "seed", "integer >= 0", "'a'"]),
    "negative seed": (lambda: sn.Sequential([L.Dense(2)], seed=-1), ValueError, ["seed", "-1"]),
    "build with a bad shape": (lambda: sn.Sequential([L.Dense(2)]).build((None, "4")), ValueError,
                               ["build", "input_shape", "positive integers", "('4',)"]),
    "verbose of the wrong kind": (lambda: _model().fit(X, Y, verbose="yes"), ValueError,
                                  ["fit", "verbose", "'auto', 0", "'yes'"]),
    "set_weights of None": (lambda: _model().set_weights(None), TypeError,
                            ["set_weights", "list of 4 arrays", "NoneType"]),
    "count_params before build": (lambda: sn.Sequential([L.Dense(2)]).count_params(), ValueError,
                                  ["count_params", "not built"]),
    "two layers of one name": (lambda: sn.Sequential([L.Input((3,)), L.Dense(2, name="d"),
                                                      L.Dense(2, name="d")]), ValueError,
                               ["unique names", "Name 'd' is already the name"]),
    "weights before build": (lambda: sn.Sequential([L.Dense(2)]).get_weights(), ValueError,
                             ["not built", "Input"]),
    "set_floatx": (lambda: sn.config.set_floatx("float16"), ValueError, ["float32", "'float16'"]),
    "set_backend": (lambda: sn.set_backend("cuda"), ValueError, ["numpy", "'cuda'"]),
}


def _dense_model():
    model = sn.Sequential([L.Dense(1, input_shape=(3,))])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _batches(n):
    for _ in range(n):
        yield X, Y


class _Batches(sn.utils.PyDataset):
    def __init__(self, bad_at=None, length=3):
        super().__init__()
        self.bad_at = bad_at
        self.length = length

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        return X, (Y + 7 if i == self.bad_at else Y)


def _trained_optimizer():
    """An Adam that has updated one model (so it holds that model's moments)."""
    optimizer = sn.optimizers.Adam()
    model = _model(False)
    model.compile(optimizer=optimizer, loss=SCCE)
    model.fit(X, Y, epochs=1, verbose=0)
    return optimizer


def _second_model_on(optimizer):
    """The same architecture and layer names as the first model, so only identity tells them apart."""
    model = _model(False)
    model.compile(optimizer=optimizer, loss=SCCE)
    model.fit(X, Y, epochs=1, verbose=0)


def _cce_model():
    model = _model(False)
    model.compile(optimizer="sgd", loss=sn.losses.CategoricalCrossentropy(from_logits=True))
    return model


def _swap_first(weights):
    weights[0] = np.zeros((2, 1, 3, 3))
    return weights


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gets_a_clear_error(name):
    action, exc_type, fragments = CASES[name]
    with pytest.raises(exc_type) as info:
        action()
    message = str(info.value)
    missing = [f for f in fragments if f not in message]
    assert not missing, f"message {message!r} lacks {missing}"


def test_one_callback_outside_a_list_is_taken_as_keras_takes_it():
    seen = []
    _model().fit(X, Y, epochs=2, verbose=0,
                 callbacks=sn.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(e)))
    assert seen == [0, 1]


def test_default_names_are_numbered_in_a_sequential():
    model = sn.Sequential([L.Input((3,)), L.Dense(2), L.Dense(2), L.Dense(2)])
    assert [layer.name for layer in model.layers] == ["dense", "dense_1", "dense_2"]


def test_layer_called_directly_checks_its_input():
    dense = L.Dense(3)
    dense(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r'layer "dense".*expected shape=\(None, 4\).*\(2, 5\)'):
        dense(np.zeros((2, 5)))
