"""keras.distillation against Keras 3.15.1: the same teacher and student weights and the same
ordered batches through ``Distiller.fit`` in both frameworks; the logs of every step (loss,
student_loss, distillation_loss, total_loss) and the student's weights after the steps to
TRAJECTORY_RTOL, for LogitsDistillation (name and KLDivergence object, temperatures),
FeatureDistillation on named layers, several losses with weights, student_loss_weight 0, 0.3
and 1, and a student whose weight or activity penalties Keras leaves out; evaluate and predict;
the config both ways; the errors in Keras' wording."""

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, TRAJECTORY_RTOL, assert_close

D = sn.distillation
KD = keras.distillation


def _data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = rng.integers(0, 4, size=n)
    return x, y


def _pair(make, seed):
    """The same architecture in both frameworks, with the same random weights."""
    scratch, kmodel = make(sn), make(keras)
    rng = np.random.default_rng(seed)
    weights = [rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in scratch.get_weights()]
    scratch.set_weights(weights)
    kmodel.set_weights(weights)
    return scratch, kmodel


def _teacher(lib):
    return lib.Sequential([lib.layers.Input((6,)), lib.layers.Dense(8, activation="relu", name="t_hidden"),
                           lib.layers.Dense(5, activation="tanh", name="t_feat"),
                           lib.layers.Dense(4, name="t_logits")], name="teacher")


def _student(lib, activation=None, regularized=False, activity=False):
    regularizer = lib.regularizers.l2(0.5) if regularized else None
    penalty = lib.regularizers.L1L2(l1=0.05, l2=0.5) if activity else None
    return lib.Sequential([lib.layers.Input((6,)), lib.layers.Dense(5, activation="relu", name="s_feat",
                                                                     kernel_regularizer=regularizer,
                                                                     activity_regularizer=penalty),
                           lib.layers.Dense(4, activation=activation, name="s_logits")], name="student")


def _functional_student(lib):
    inputs = lib.layers.Input((6,), name="x")
    h = lib.layers.Dense(5, activation="sigmoid", name="s_feat")(inputs)
    skip = lib.layers.Dense(4, name="skip")(inputs)
    out = lib.layers.Add(name="s_logits")([lib.layers.Dense(4, name="head")(h), skip])
    return lib.Model(inputs, out, name="student")


CASES = {
    "logits_default_kl_function": dict(losses=lambda L, lib: L.LogitsDistillation()),
    "logits_kl_object_T4": dict(
        losses=lambda L, lib: L.LogitsDistillation(4.0, loss=lib.losses.KLDivergence())),
    "logits_cce_T2_weight_0.3": dict(
        losses=lambda L, lib: L.LogitsDistillation(
            2.0, loss=lib.losses.CategoricalCrossentropy(from_logits=True)),
        student_loss_weight=0.3),
    "logits_mse_softmax_student": dict(losses=lambda L, lib: L.LogitsDistillation(2.5, loss="mse"),
                                       activation="softmax"),
    "feature_named_layers": dict(losses=lambda L, lib: L.FeatureDistillation(
        "mse", teacher_layer_name="t_feat", student_layer_name="s_feat")),
    "feature_and_logits_weighted": dict(
        losses=lambda L, lib: [L.LogitsDistillation(3.0, loss=lib.losses.KLDivergence()),
                               L.FeatureDistillation("mae", teacher_layer_name="t_feat",
                                                     student_layer_name="s_feat"),
                               L.FeatureDistillation(lib.losses.CosineSimilarity())],
        weights=[1.0, 0.5, 0.25], student_loss_weight=0.2),
    "distillation_only": dict(losses=lambda L, lib: L.LogitsDistillation(2.0, loss=lib.losses.KLDivergence()),
                              student_loss_weight=0.0),
    "student_only": dict(losses=lambda L, lib: L.LogitsDistillation(), student_loss_weight=1.0),
    "weight_regularizer_left_out": dict(losses=lambda L, lib: L.LogitsDistillation(), regularized=True),
    # Keras' Distiller.compute_loss leaves model.losses out, an activity penalty too
    "activity_regularizer_left_out": dict(losses=lambda L, lib: L.LogitsDistillation(), activity=True),
    "activity_regularizer_feature_named": dict(losses=lambda L, lib: L.FeatureDistillation(
        "mse", teacher_layer_name="t_feat", student_layer_name="s_feat"), activity=True),
    "functional_student_feature": dict(
        losses=lambda L, lib: [L.FeatureDistillation("mse", teacher_layer_name="t_feat",
                                                     student_layer_name="s_feat"),
                               L.LogitsDistillation(2.0, loss=lib.losses.KLDivergence())],
        functional=True, student_loss_weight=0.6),
}


def _distillers(case, optimizer):
    teacher_s, teacher_k = _pair(_teacher, 1)
    if case.get("functional"):
        student_s, student_k = _pair(_functional_student, 2)
    else:
        student_s, student_k = _pair(lambda lib: _student(lib, case.get("activation"),
                                                          case.get("regularized", False),
                                                          case.get("activity", False)), 2)
    kwargs = {"student_loss_weight": case.get("student_loss_weight", 0.5)}
    if case.get("weights") is not None:
        kwargs["distillation_loss_weights"] = case["weights"]
    ds = D.Distiller(teacher_s, student_s, case["losses"](D, sn), **kwargs)
    dk = KD.Distiller(teacher_k, student_k, case["losses"](KD, keras), **kwargs)
    loss = "sparse_categorical_crossentropy"
    ds.compile(optimizer=optimizer(sn), loss=loss, metrics=["accuracy"])
    dk.compile(optimizer=optimizer(keras), loss=loss, metrics=["accuracy"])
    return ds, dk


class _StepLogs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append({k: float(v) for k, v in logs.items()})


class _ScratchStepLogs(sn.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append({k: float(v) for k, v in logs.items()})


@pytest.mark.parametrize("name", sorted(CASES))
def test_fit_trajectory_matches_keras(name):
    x, y = _data()
    ds, dk = _distillers(CASES[name], lambda lib: lib.optimizers.Adam(0.02))
    cb_s, cb_k = _ScratchStepLogs(), _StepLogs()
    h_s = ds.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[cb_s]).history
    h_k = dk.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[cb_k]).history
    assert len(cb_s.logs) == len(cb_k.logs) == 6
    for step, (ls, lk) in enumerate(zip(cb_s.logs, cb_k.logs, strict=True)):
        assert set(ls) == set(lk), (ls, lk)
        for key in ("loss", "student_loss", "distillation_loss", "total_loss", "accuracy"):
            assert_close(ls[key], lk[key], TRAJECTORY_RTOL, f"{name} step {step} {key}")
    for key in h_k:
        assert_close(h_s[key], h_k[key], TRAJECTORY_RTOL, f"{name} history {key}")
    for ws, wk in zip(ds.student.get_weights(), dk.student.get_weights(), strict=True):
        assert_close(ws, wk, TRAJECTORY_RTOL, f"{name} student weights")
    for ws, wk in zip(ds.teacher.get_weights(), dk.teacher.get_weights(), strict=True):
        np.testing.assert_array_equal(ws, wk)  # frozen


@pytest.mark.parametrize("name", ["feature_and_logits_weighted", "logits_mse_softmax_student"])
def test_sgd_steps_and_evaluate_predict_match_keras(name):
    x, y = _data(20, seed=3)
    case = CASES[name]
    ds, dk = _distillers(case, lambda lib: lib.optimizers.SGD(0.1, momentum=0.9))
    ds.fit(x, y, batch_size=6, epochs=3, shuffle=False, verbose=0)
    dk.fit(x, y, batch_size=6, epochs=3, shuffle=False, verbose=0)
    for ws, wk in zip(ds.student.get_weights(), dk.student.get_weights(), strict=True):
        assert_close(ws, wk, TRAJECTORY_RTOL, "student weights")
    es = ds.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)
    ek = dk.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)
    assert set(es) == set(ek)
    for key in ek:
        assert_close(es[key], ek[key], TRAJECTORY_RTOL, f"evaluate {key}")
    listed_s = ds.evaluate(x, y, batch_size=7, verbose=0)
    listed_k = dk.evaluate(x, y, batch_size=7, verbose=0)
    assert_close(np.array(listed_s), np.array(listed_k), TRAJECTORY_RTOL, "evaluate list order")
    assert_close(ds.predict(x, verbose=0), dk.predict(x, verbose=0), TRAJECTORY_RTOL, "predict")
    assert_close(ds(x[:3]), np.asarray(dk(x[:3])), TRAJECTORY_RTOL, "call")


def test_forward_losses_match_keras_compute_loss():
    """One batch, no update: the three losses against Keras' compute_loss at FORWARD_RTOL."""
    x, y = _data(8, seed=5)
    for name in ("logits_kl_object_T4", "feature_and_logits_weighted", "logits_default_kl_function"):
        ds, dk = _distillers(CASES[name], lambda lib: lib.optimizers.SGD(0.0))
        logs = ds.test_on_batch(x, y, return_dict=True)
        dk.reset_metrics()
        total = float(dk.compute_loss(x, y, dk(x, training=False), training=False))
        assert_close(logs["total_loss"], total, FORWARD_RTOL, f"{name} total")
        assert_close(logs["student_loss"], float(dk.student_loss_tracker.result()), FORWARD_RTOL, name)
        assert_close(logs["distillation_loss"], float(dk.distillation_loss_tracker.result()),
                     FORWARD_RTOL, name)


def test_config_both_ways():
    case = CASES["feature_and_logits_weighted"]
    ds, dk = _distillers(case, lambda lib: lib.optimizers.SGD(0.1))
    cs, ck = ds.get_config(), dk.get_config()
    assert set(cs) == set(ck)
    assert cs["distillation_loss_weights"] == ck["distillation_loss_weights"]
    assert cs["student_loss_weight"] == ck["student_loss_weight"]
    for ls, lk in zip(cs["distillation_losses"], ck["distillation_losses"], strict=True):
        assert ls["class_name"] == lk["class_name"]
        assert ls["config"] == {k: (lk["config"][k] if k != "loss" else ls["config"]["loss"])
                                for k in lk["config"]}
        loss_s, loss_k = ls["config"]["loss"], lk["config"]["loss"]
        assert loss_s["class_name"] == loss_k["class_name"]
        if loss_k["class_name"] == "function":
            assert loss_s == loss_k
    # Keras reads scratchnet's config, scratchnet reads Keras'
    back_k = KD.Distiller.from_config(cs)
    back_s = D.Distiller.from_config(ck)
    assert [type(loss).__name__ for loss in back_k.distillation_losses] == \
        [type(loss).__name__ for loss in back_s.distillation_losses]
    assert back_s.distillation_losses[0].temperature == 3.0
    assert isinstance(back_s.distillation_losses[0]._given_loss, sn.losses.KLDivergence)
    assert back_s.distillation_losses[1].teacher_layer_name == "t_feat"
    assert [layer.name for layer in back_s.student.layers] == [layer.name for layer in back_k.student.layers]


def _errors(lib_d, lib, call):
    try:
        call(lib_d, lib)
    except (ValueError, TypeError) as err:
        return type(err), str(err)
    raise AssertionError("no error")


@pytest.mark.parametrize("what", ["bad_teacher_layer", "bad_student_layer", "weights_length",
                                  "student_loss_weight_range", "student_loss_weight_type",
                                  "teacher_type", "temperature_type", "temperature_sign",
                                  "all_none_logits", "all_none_feature", "unknown_loss",
                                  "output_shapes", "compile_loss_none", "compile_metrics_type",
                                  "none_losses"])
def test_errors_in_keras_wording(what):
    def models(lib):
        return _teacher(lib), _student(lib)

    calls = {
        "bad_teacher_layer": lambda L, lib: L.Distiller(*models(lib), L.FeatureDistillation(
            teacher_layer_name="nope", student_layer_name="s_feat")),
        "bad_student_layer": lambda L, lib: L.Distiller(*models(lib), L.FeatureDistillation(
            teacher_layer_name="t_feat", student_layer_name="nope")),
        "weights_length": lambda L, lib: L.Distiller(*models(lib), [L.LogitsDistillation()], [1.0, 2.0]),
        "student_loss_weight_range": lambda L, lib: L.Distiller(*models(lib), L.LogitsDistillation(),
                                                                student_loss_weight=1.5),
        "student_loss_weight_type": lambda L, lib: L.Distiller(*models(lib), L.LogitsDistillation(),
                                                               student_loss_weight="half"),
        "teacher_type": lambda L, lib: L.Distiller("teacher", _student(lib), L.LogitsDistillation()),
        "temperature_type": lambda L, lib: L.LogitsDistillation(temperature="3"),
        "temperature_sign": lambda L, lib: L.LogitsDistillation(temperature=0.0),
        "all_none_logits": lambda L, lib: L.LogitsDistillation(loss=[None, None]),
        "all_none_feature": lambda L, lib: L.FeatureDistillation(loss=None),
        "unknown_loss": lambda L, lib: L.LogitsDistillation(loss="no_such_loss"),
        "output_shapes": lambda L, lib: L.Distiller(_teacher(lib), lib.Sequential(
            [lib.layers.Input((6,)), lib.layers.Dense(3)]), L.LogitsDistillation()),
        "compile_loss_none": lambda L, lib: L.Distiller(*models(lib), L.LogitsDistillation()).compile(
            optimizer="sgd", loss=None),
        "compile_metrics_type": lambda L, lib: L.Distiller(*models(lib), L.LogitsDistillation()).compile(
            optimizer="sgd", loss="mse", metrics="accuracy"),
        "none_losses": lambda L, lib: L.Distiller(*models(lib), None),
    }
    kind_s, msg_s = _errors(D, sn, calls[what])
    kind_k, msg_k = _errors(KD, keras, calls[what])
    assert kind_s is kind_k
    # Keras' sentences, with scratchnet's own class names in "<class ...>" and the layer lists
    first = msg_k.split("<class")[0].split("Existing layers")[0]
    assert msg_s.startswith(first), (msg_s, msg_k)


@pytest.mark.filterwarnings("ignore:`compile\\(\\)` was not called:UserWarning")  # Keras, on loading
@pytest.mark.parametrize("name", ["feature_and_logits_weighted", "functional_student_feature"])
def test_keras_files_both_ways(tmp_path, name):
    """.keras and .weights.h5 files of a trained Distiller, read by the other framework: the same
    weights tree (as both KerasFileEditors read it), the same weights; compiled again (a loaded
    Distiller is not compiled, in Keras either) both train on to the same student weights."""
    x, y = _data()
    ds, dk = _distillers(CASES[name], lambda lib: lib.optimizers.Adam(0.02))
    ds.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    dk.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    ds.save(str(tmp_path / "s.keras"))
    dk.save(str(tmp_path / "k.keras"))
    tree_s = sn.saving.KerasFileEditor(str(tmp_path / "s.keras"), print_fn=lambda *a: None).weights_dict
    tree_k = keras.saving.KerasFileEditor(str(tmp_path / "k.keras")).weights_dict

    def flat(tree, prefix=""):
        out = {}
        for key, value in tree.items():
            path = f"{prefix}/{key}"
            out.update(flat(value, path) if isinstance(value, dict) else {path: value})
        return out

    flat_s, flat_k = flat(tree_s), flat(tree_k)
    assert list(flat_s) == list(flat_k) and all(key.startswith("/optimizer/") for key in flat_k)
    for key in flat_k:
        assert_close(flat_s[key], flat_k[key], TRAJECTORY_RTOL, key)
    editor_s = sn.saving.KerasFileEditor(str(tmp_path / "k.keras"), print_fn=lambda *a: None)
    editor_k = keras.saving.KerasFileEditor(str(tmp_path / "k.keras"))
    # A Distiller as the reference model: Keras' editor skips every group whose own "vars" is
    # empty, a nested model's included, so it sees only the optimizer and reports the teacher
    # and the student missing from the file: the same report here.
    result = editor_s.compare(ds)
    assert result == editor_k.compare(dk) and result["error_count"] == 4
    k_from_s = keras.models.load_model(str(tmp_path / "s.keras"))
    s_from_k = sn.load_model(str(tmp_path / "k.keras"))
    assert isinstance(s_from_k, D.Distiller) and not s_from_k.compiled
    assert [type(loss).__name__ for loss in s_from_k.distillation_losses] == \
        [type(loss).__name__ for loss in dk.distillation_losses]
    for ws, wk in zip(s_from_k.weights, dk.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(ws), np.asarray(wk))
    for ws, wk in zip(ds.weights, k_from_s.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(ws), np.asarray(wk))
    s_from_k.set_weights(ds.get_weights())  # the same starting point on both sides
    for model, lib in ((s_from_k, sn), (k_from_s, keras)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for ws, wk in zip(s_from_k.student.get_weights(), k_from_s.student.get_weights(), strict=True):
        assert_close(ws, wk, TRAJECTORY_RTOL, "student after more training")
    # weights files, both ways, the optimizer's state included: the next epoch agrees
    ds.save_weights(str(tmp_path / "s.weights.h5"))
    dk.load_weights(str(tmp_path / "s.weights.h5"))
    for ws, wk in zip(ds.get_weights(), dk.get_weights(), strict=True):
        np.testing.assert_array_equal(ws, wk)
    ds.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    dk.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    dk.save_weights(str(tmp_path / "k.weights.h5"))
    ds.load_weights(str(tmp_path / "k.weights.h5"))
    for ws, wk in zip(ds.get_weights(), dk.get_weights(), strict=True):
        np.testing.assert_array_equal(ws, wk)
    ds.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    dk.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for ws, wk in zip(ds.student.get_weights(), dk.student.get_weights(), strict=True):
        assert_close(ws, wk, TRAJECTORY_RTOL, "student after loading each other's weights files")


def _two_outputs(lib, name, hidden, seed_name):
    inputs = lib.layers.Input((6,), name="x")
    h = lib.layers.Dense(hidden, activation="tanh", name=f"{seed_name}_h")(inputs)
    classes = lib.layers.Dense(4, activation="softmax", name=f"{seed_name}_cls")(h)
    value = lib.layers.Dense(2, name=f"{seed_name}_reg")(h)
    return lib.Model(inputs, [classes, value], name=name)


def test_two_output_models_with_a_loss_per_output():
    """A teacher and a student with two outputs: LogitsDistillation with a loss per output (a
    KLDivergence object, None skipping one), FeatureDistillation with one per output; per-step logs
    and student weights. (student_loss_weight=0: Keras 3.15.1's Distiller cannot fit a list of
    student losses, whose structure (a TrackedList) never matches the targets' tuple.)"""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(16, 6)).astype(np.float32)
    y = [rng.integers(0, 4, size=16), rng.normal(size=(16, 2)).astype(np.float32)]
    teacher_s, teacher_k = _pair(lambda lib: _two_outputs(lib, "teacher", 7, "t"), 5)
    student_s, student_k = _pair(lambda lib: _two_outputs(lib, "student", 3, "s"), 6)
    runs = []
    for L, lib, teacher, student in ((D, sn, teacher_s, student_s), (KD, keras, teacher_k, student_k)):
        distiller = L.Distiller(teacher, student,
                                [L.LogitsDistillation(2.0, loss=[lib.losses.KLDivergence(), None]),
                                 L.FeatureDistillation(["mse", "mae"])], [1.0, 0.4], student_loss_weight=0.0)
        distiller.compile(optimizer=lib.optimizers.Adam(0.03),
                          loss=["sparse_categorical_crossentropy", "mse"])
        callback = (_ScratchStepLogs if lib is sn else _StepLogs)()
        distiller.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[callback])
        runs.append((callback.logs, distiller.student.get_weights()))
    (logs_s, weights_s), (logs_k, weights_k) = runs
    for step, (ls, lk) in enumerate(zip(logs_s, logs_k, strict=True)):
        for key in ("loss", "student_loss", "distillation_loss", "total_loss"):
            assert_close(ls[key], lk[key], TRAJECTORY_RTOL, f"step {step} {key}")
    for ws, wk in zip(weights_s, weights_k, strict=True):
        assert_close(ws, wk, TRAJECTORY_RTOL, "student weights")


def _batch_norm_student(lib):
    return lib.Sequential([lib.layers.Input((6,)), lib.layers.Dense(5, name="s_feat"),
                           lib.layers.BatchNormalization(momentum=0.8, name="s_bn"),
                           lib.layers.Activation("relu", name="s_relu"),
                           lib.layers.Dense(4, name="s_logits")], name="student")


@pytest.mark.parametrize("student_layer", ["s_bn", None])
def test_feature_extractor_runs_the_student_a_second_time_as_keras(student_layer):
    """A FeatureDistillation on named layers makes Keras run the student twice per step: as
    itself (the student loss and LogitsDistillation read it) and as its feature extractor, in
    training mode, even in ``evaluate`` (the feature loss reads it). With BatchNormalization the
    moving statistics move twice per step; the gradient is the sum over both passes. Per-step
    logs, every student weight (moving statistics included) after each step, then evaluate and
    the statistics it moves. (``student_layer=None``: the teacher's layer against the student's
    final output, read from the extractor's pass, which exists because another loss names
    ``s_feat``.)"""
    x, y = _data(24, seed=4)
    teacher_s, teacher_k = _pair(_teacher, 1)
    student_s, student_k = _batch_norm_student(sn), _batch_norm_student(keras)
    rng = np.random.default_rng(2)
    weights = [rng.uniform(0.5, 1.5, w.shape) if "moving_variance" in w.path
               else rng.normal(scale=0.5, size=w.shape) for w in student_k.weights]
    weights = [w.astype(np.float32) for w in weights]
    student_s.set_weights(weights)
    student_k.set_weights(weights)

    def losses(lib_d, lib):
        named = [lib_d.FeatureDistillation("mse", teacher_layer_name="t_feat", student_layer_name="s_bn")]
        if student_layer is None:
            named = [lib_d.FeatureDistillation("mse", teacher_layer_name="t_feat",
                                               student_layer_name="s_feat"),
                     lib_d.FeatureDistillation("mse", teacher_layer_name="t_logits")]
        return [*named, lib_d.LogitsDistillation(2.0, loss=lib.losses.KLDivergence())]

    ds = D.Distiller(teacher_s, student_s, losses(D, sn), student_loss_weight=0.4)
    dk = KD.Distiller(teacher_k, student_k, losses(KD, keras), student_loss_weight=0.4)
    ds.compile(optimizer=sn.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    dk.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    moving = [i for i, w in enumerate(student_k.weights) if "moving" in w.path]
    for step in range(3):
        batch = slice(8 * step, 8 * step + 8)
        ls = ds.train_on_batch(x[batch], y[batch], return_dict=True)
        lk = dk.train_on_batch(x[batch], y[batch], return_dict=True)
        for key in ("loss", "student_loss", "distillation_loss", "total_loss"):
            assert_close(ls[key], float(lk[key]), TRAJECTORY_RTOL, f"step {step} {key}")
        for ws, wk in zip(ds.student.get_weights(), dk.student.get_weights(), strict=True):
            assert_close(ws, wk, TRAJECTORY_RTOL, f"step {step} student weights")
    es = ds.evaluate(x, y, batch_size=12, verbose=0, return_dict=True)
    ek = dk.evaluate(x, y, batch_size=12, verbose=0, return_dict=True)
    for key in ek:
        assert_close(es[key], ek[key], TRAJECTORY_RTOL, f"evaluate {key}")
    for i in moving:  # evaluate's training-mode extractor moved them too
        assert_close(ds.student.get_weights()[i], dk.student.get_weights()[i], TRAJECTORY_RTOL,
                     "moving statistics after evaluate")
