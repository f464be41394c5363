"""sn.distillation without Keras: finite differences of the Distiller's gradient in float64 (every
loss kind together, a softmax student meeting a cross-entropy), a custom DistillationLoss through
the gradient tape, subclassed students, callbacks and logs, the frozen teacher, config round trip
and the errors scratchnet adds (shapes, types)."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

D = sn.distillation


def _teacher(seed=1):
    return sn.Sequential([sn.layers.Input((5,)), sn.layers.Dense(6, activation="tanh", name="t_feat"),
                          sn.layers.Dense(3, name="t_logits")], seed=seed, name="teacher")


def _student(seed=2, activation="softmax"):
    return sn.Sequential([sn.layers.Input((5,)), sn.layers.Dense(6, activation="sigmoid", name="s_feat"),
                          sn.layers.Dense(3, activation=activation, name="s_logits")],
                         seed=seed, name="student")


def _data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 5)), rng.integers(0, 3, size=n)


def test_gradient_matches_finite_differences(float64):
    x, y = _data()
    distiller = D.Distiller(
        _teacher(), _student(),
        [D.LogitsDistillation(2.0, loss=sn.losses.KLDivergence()),
         D.LogitsDistillation(3.0, loss="mse"),
         D.FeatureDistillation("mse", teacher_layer_name="t_feat", student_layer_name="s_feat"),
         D.FeatureDistillation(sn.losses.CosineSimilarity())],
        distillation_loss_weights=[1.0, 0.3, 0.7, 0.2], student_loss_weight=0.4)
    distiller.compile(optimizer=sn.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    distiller.train_step(x, y)  # fills every Parameter.grad; lr 0 keeps the weights
    grads = [p.grad.copy() for p in distiller.student.params]

    def total():
        xs, ys, _ = distiller._check_data(x, y, "test")
        return distiller._step(xs, ys, training=True)[0][2]

    for param, grad in zip(distiller.student.params, grads, strict=True):
        assert rel_error(grad, numeric_grad(total, param.value)) < REL_TOL, param.name
    assert all(np.all(p.grad is None or p.grad == 0) or not p.trainable
               for p in distiller.teacher.weights)


class MeanSquared(D.DistillationLoss):
    """A user's loss written with NumPy: its gradient comes from the tape."""

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        return np.mean((teacher_outputs - student_outputs) ** 2)


def test_custom_loss_through_the_tape_trains_as_feature_distillation():
    x, y = _data(12)
    runs = []
    for loss in (MeanSquared(), D.FeatureDistillation("mse")):
        distiller = D.Distiller(_teacher(), _student(activation=None), loss, student_loss_weight=0.3)
        distiller.compile(optimizer=sn.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
        history = distiller.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
        runs.append((history, distiller.student.get_weights()))
    (h1, w1), (h2, w2) = runs
    np.testing.assert_allclose(h1["distillation_loss"], h2["distillation_loss"], rtol=1e-5)
    for a, b in zip(w1, w2, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_custom_loss_must_return_a_scalar():
    class PerSample(D.DistillationLoss):
        def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
            return np.sum((teacher_outputs - student_outputs) ** 2, axis=-1)

    x, y = _data()
    distiller = D.Distiller(_teacher(), _student(activation=None), PerSample())
    distiller.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="returned a non-scalar loss with shape"):
        distiller.train_step(x, y)


def test_logs_callbacks_and_frozen_teacher():
    x, y = _data(16)
    teacher = _teacher()
    before = teacher.get_weights()
    distiller = D.Distiller(teacher, _student(), D.LogitsDistillation(2.0))
    distiller.compile(optimizer=sn.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    seen = []
    callback = sn.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(dict(logs)))
    stop = sn.callbacks.EarlyStopping(monitor="total_loss", mode="min", patience=0, min_delta=10.0)
    history = distiller.fit(x, y, batch_size=4, epochs=5, verbose=0, callbacks=[callback, stop])
    # callbacks receive the logs with their keys sorted, as Keras' CallbackList hands them over
    assert list(seen[0]) == ["accuracy", "distillation_loss", "loss", "student_loss", "total_loss"]
    assert len(history.history["loss"]) == 2  # EarlyStopping read total_loss and stopped
    for a, b in zip(before, teacher.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not teacher.trainable
    assert [id(p) for p in distiller.trainable_weights] == [id(p) for p in distiller.student.params]
    assert len(distiller.weights) == len(teacher.weights) + len(distiller.student.weights)
    assert distiller.predict(x, verbose=0).shape == (16, 3)


def test_student_loss_weight_one_never_runs_the_teacher():
    x, y = _data()
    teacher = _teacher()
    distiller = D.Distiller(teacher, _student(), D.LogitsDistillation(), student_loss_weight=1.0)
    distiller.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    teacher.layers[0].forward = None  # calling the teacher would fail
    logs = distiller.train_step(x, y)
    assert logs["distillation_loss"] == 0.0
    assert logs["total_loss"] == pytest.approx(logs["student_loss"])


def test_subclassed_student_with_logits_distillation():
    class Student(sn.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = sn.layers.Dense(6, activation="relu")
            self.out = sn.layers.Dense(3)

        def call(self, inputs):
            return self.out(self.hidden(inputs))

    x, y = _data(16)
    distiller = D.Distiller(_teacher(), Student(seed=3), D.LogitsDistillation(2.0, sn.losses.KLDivergence()),
                            student_loss_weight=0.0)
    distiller.compile(optimizer=sn.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    history = distiller.fit(x, y, batch_size=8, epochs=15, verbose=0).history
    assert history["distillation_loss"][-1] < 0.5 * history["distillation_loss"][0]
    with pytest.raises(NotImplementedError, match='the student "student" is a subclassed model'):
        distiller.save("never_written.keras")
    with pytest.raises(ValueError, match="The student model.s. appear to be subclassed"):
        D.Distiller(_teacher(), Student(), D.FeatureDistillation(teacher_layer_name="t_feat",
                                                                  student_layer_name="dense"))


def test_config_round_trip_keeps_the_losses():
    distiller = D.Distiller(_teacher(), _student(),
                            [D.LogitsDistillation(4.0, sn.losses.KLDivergence()),
                             D.FeatureDistillation(["mae"][0], "t_feat", "s_feat")],
                            [0.5, 2.0], student_loss_weight=0.25, name="kd")
    back = D.Distiller.from_config(distiller.get_config())
    assert back.name == "kd" and back.student_loss_weight == 0.25
    assert back.distillation_loss_weights == [0.5, 2.0]
    logits, feature = back.distillation_losses
    assert logits.temperature == 4.0 and isinstance(logits._given_loss, sn.losses.KLDivergence)
    assert feature.loss.function_name == "mean_absolute_error"
    assert (feature.teacher_layer_name, feature.student_layer_name) == ("t_feat", "s_feat")
    assert [layer.name for layer in back.student.layers] == ["s_feat", "s_logits"]
    assert not back.teacher.trainable


def test_errors_scratchnet_adds():
    x, y = _data()
    wide = sn.Sequential([sn.layers.Input((5,)), sn.layers.Dense(4, name="s_feat"),
                          sn.layers.Dense(3, name="s_logits")])
    distiller = D.Distiller(_teacher(), wide, D.FeatureDistillation(teacher_layer_name="t_feat",
                                                                    student_layer_name="s_feat"))
    distiller.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"teacher shape \(8, 6\) and student shape \(8, 4\)"):
        distiller.train_step(x, y)
    with pytest.raises(TypeError, match="expected distillation_losses to be DistillationLoss"):
        D.Distiller(_teacher(), _student(), ["mse"])
    with pytest.raises(ValueError, match="Unrecognized keyword arguments passed to Distiller"):
        D.Distiller(_teacher(), _student(), D.LogitsDistillation(), temperature=2)
    with pytest.raises(ValueError, match="expected a path ending in .keras"):
        distiller.save("d.npz")
    with pytest.raises(ValueError, match="Loss structure mismatch"):
        D.FeatureDistillation(["mse", "mae"]).validate_outputs(np.zeros((2, 3)), np.zeros((2, 3)))


def test_keras_file_round_trip(tmp_path):
    x, y = _data(12)
    distiller = D.Distiller(_teacher(), _student(),
                            [D.LogitsDistillation(2.0), D.FeatureDistillation("mse", "t_feat", "s_feat")],
                            [1.0, 0.5], student_loss_weight=0.3)
    distiller.compile(optimizer=sn.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    distiller.fit(x, y, batch_size=4, epochs=2, verbose=0)
    distiller.save(tmp_path / "d.keras")
    back = sn.load_model(tmp_path / "d.keras")
    assert isinstance(back, D.Distiller) and not back.compiled  # Keras' compile_config has no loss
    np.testing.assert_array_equal(back.predict(x, verbose=0), distiller.predict(x, verbose=0))
    for a, b in zip(back.get_weights(), distiller.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    other = D.Distiller(_teacher(seed=8), _student(seed=9), D.LogitsDistillation())
    other.load_weights(tmp_path / "d.keras")
    np.testing.assert_array_equal(other.predict(x, verbose=0), distiller.predict(x, verbose=0))


def test_two_output_student_sums_its_losses():
    """A student loss per output: L_s is their sum (Keras' map over the outputs; its 3.15.1 fit
    cannot run this case, parity_tests/test_distillation_keras.py)."""
    def two_outputs(name, hidden, seed):
        inputs = sn.layers.Input((5,))
        h = sn.layers.Dense(hidden, activation="tanh")(inputs)
        return sn.Model(inputs, [sn.layers.Dense(3)(h), sn.layers.Dense(2)(h)], name=name, seed=seed)

    x, y_cls = _data()
    y_reg = np.linspace(-1, 1, 16).reshape(8, 2)
    student = two_outputs("student", 4, 3)
    distiller = D.Distiller(two_outputs("teacher", 6, 4), student,
                            D.LogitsDistillation(2.0, loss=["kl_divergence", "mse"]))
    distiller.compile(optimizer="sgd",
                      loss=[sn.losses.SparseCategoricalCrossentropy(from_logits=True), "mse"])
    logs = distiller.test_on_batch(x, [y_cls, y_reg], return_dict=True)
    logits, values = student.predict(x, verbose=0)
    expected = sn.losses.SparseCategoricalCrossentropy(from_logits=True)(y_cls, logits) + \
        sn.losses.MeanSquaredError()(y_reg, values)
    assert logs["student_loss"] == pytest.approx(expected, rel=1e-6)
    assert logs["total_loss"] == pytest.approx(0.5 * expected + 0.5 * logs["distillation_loss"], rel=1e-6)
    history = distiller.fit(x, [y_cls, y_reg], batch_size=4, epochs=3, verbose=0).history
    assert history["total_loss"][-1] < history["total_loss"][0]
