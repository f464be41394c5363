"""A model class that overrides Keras' ``compute_loss(x, y, y_pred, sample_weight)``
(scratchnet/custom_loss.py): the gradients it gives, in float64 against finite differences (the
student's weights and the teacher's, which the override reaches by calling the teacher on ``x``),
``compile`` without a loss, and the refusals (Keras' comparison: parity_tests/
test_custom_compute_loss_keras.py)."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import losses
from tests.gradcheck import REL_TOL, numeric_grad, rel_error


class Distiller(sn.Model):
    """keras.io's knowledge-distillation model."""

    def __init__(self, student, teacher, temperature=3.0, alpha=0.1):
        super().__init__()
        self.teacher = teacher
        self.student = student
        self.temperature, self.alpha = temperature, alpha
        self.student_loss_fn = losses.SparseCategoricalCrossentropy(from_logits=True)
        self.distillation_loss_fn = losses.KLDivergence()

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, allow_empty=False):
        teacher_pred = self.teacher(x, training=False)
        student_loss = self.student_loss_fn(y, y_pred)
        distillation_loss = self.distillation_loss_fn(
            sn.ops.softmax(teacher_pred / self.temperature, axis=1),
            sn.ops.softmax(y_pred / self.temperature, axis=1),
        ) * (self.temperature**2)
        return self.alpha * student_loss + (1 - self.alpha) * distillation_loss

    def call(self, x):
        return self.student(x)


def _mlp(units, seed):
    return sn.Sequential([sn.Input((4,)), sn.layers.Dense(units, activation="tanh"), sn.layers.Dense(3)],
                         seed=seed)


def test_the_distillers_gradients_reach_student_and_teacher_in_float64(rng):
    sn.config.set_floatx("float64")
    distiller = Distiller(_mlp(5, 0), _mlp(6, 1))
    distiller.compile(optimizer="sgd")  # no loss: compute_loss is the loss
    x = rng.standard_normal((7, 4))
    y = rng.integers(0, 3, 7)
    loss, grads = distiller.loss_and_grads(x, y)
    assert len(grads) == 8  # the teacher's four weights, then the student's
    for p, g in zip(distiller.weights, grads, strict=True):
        numeric = numeric_grad(lambda: distiller.loss_and_grads(x, y)[0], p.value)
        assert np.max(np.abs(numeric)) > 1e-6, p.name  # the teacher's gradients are not 0
        assert rel_error(g, numeric) < REL_TOL, p.name
    assert loss == pytest.approx(distiller.evaluate(x, y, verbose=0))  # no dropout: the same loss


def test_kl_divergence_gradient_with_respect_to_its_target_in_float64(rng):
    sn.config.set_floatx("float64")
    y_true = rng.dirichlet(np.ones(4), size=5)
    y_pred = rng.dirichlet(np.ones(4), size=5)
    kl = losses.KLDivergence()
    numeric = numeric_grad(lambda: float(np.mean(kl.forward(y_true, y_pred))), y_true)
    assert rel_error(kl.backward_true(y_true, y_pred), numeric) < REL_TOL


def test_a_loss_object_on_traced_values_records_its_gradient(rng):
    from scratchnet.autodiff import Tape

    y = rng.integers(0, 3, 6)
    logits = rng.standard_normal((6, 3)).astype(np.float32)
    loss_fn = losses.SparseCategoricalCrossentropy(from_logits=True)
    tape = Tape("test")
    traced = tape.watch(logits)
    value = 2.0 * loss_fn(y, traced)
    assert float(value.value) == pytest.approx(2.0 * loss_fn(y, logits), rel=1e-6)
    grad = tape.gradient(value, traced, np.ones((), np.float32))
    np.testing.assert_allclose(grad, 2.0 * loss_fn.backward(y, logits), rtol=1e-6)


def test_fit_logs_the_override_and_the_metrics(rng):
    distiller = Distiller(_mlp(5, 0), _mlp(6, 1))
    distiller.compile(optimizer=sn.optimizers.SGD(0.1), metrics=[sn.metrics.SparseCategoricalAccuracy()])
    x = rng.standard_normal((20, 4)).astype(np.float32)
    y = rng.integers(0, 3, 20)
    before = [w.copy() for w in distiller.teacher.get_weights()]
    history = distiller.fit(x, y, epochs=2, batch_size=10, verbose=0).history
    assert list(history) == ["loss", "sparse_categorical_accuracy"]
    assert all(np.isfinite(history["loss"]))
    assert any(np.max(np.abs(a - b)) > 0 for a, b in zip(distiller.teacher.get_weights(), before,
                                                         strict=True))


def test_compile_without_a_loss_fails_at_fit_without_add_loss_terms():
    """As in Keras, compile(optimizer) is accepted (model.losses may be the whole loss); with
    neither an override nor an add_loss term, the first step has nothing to minimise."""
    class Plain(sn.Model):
        def __init__(self):
            super().__init__()
            self.dense = sn.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Plain()
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="No loss to compute"):
        model.fit(np.ones((4, 3), "float32"), np.ones((4, 2), "float32"), verbose=0)


def _activity_regularized(loss_of):
    class ActivityRegularized(sn.Model):
        def __init__(self):
            super().__init__()
            self.dense = sn.layers.Dense(2, activity_regularizer=sn.regularizers.L2(0.1))

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            return loss_of(self, y, y_pred)

        def call(self, x):
            return self.dense(x)
    return ActivityRegularized()


def test_an_override_weighing_add_loss_and_activity_terms_unequally_is_refused(rng):
    """Keras would scale each term's gradient by its own factor; scratchnet's backward pass seeds
    them all with one number."""
    class Unequal(sn.Model):
        def __init__(self):
            super().__init__()
            self.dense = sn.layers.Dense(2, activity_regularizer=sn.regularizers.L2(0.1))

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            activity, added = self.losses
            return sn.ops.mean((y_pred - y) ** 2) + activity + 2.0 * added

        def call(self, x):
            y = self.dense(x)
            self.add_loss(sn.ops.mean(y))
            return y

    model = Unequal()
    model.compile(optimizer="sgd")
    x = rng.standard_normal((4, 3)).astype(np.float32)
    with pytest.raises(NotImplementedError,
                       match=r"Unequal.*unequally \(dL/dterm takes the values \[1.0, 2.0\]"):
        model.fit(x, np.zeros((4, 2), np.float32), verbose=0)


def test_an_override_counting_an_activity_penalty_once_trains():
    """``ops.sum(self.losses)`` counts the activity penalty once: the loss includes it."""
    model = _activity_regularized(lambda m, y, y_pred: sn.ops.mean((y_pred - y) ** 2) + sn.ops.sum(m.losses))
    model.compile(optimizer=sn.optimizers.SGD(0.0))
    x = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    logs = model.train_on_batch(x, np.zeros((4, 2), np.float32), return_dict=True)
    y_pred = model(x)
    expected = np.mean(y_pred**2) + 0.1 * np.sum(y_pred**2) / 4
    np.testing.assert_allclose(logs["loss"], expected, rtol=1e-5)


def test_super_compute_loss_without_a_compiled_loss_or_penalties_has_no_loss_to_compute(rng):
    class Plain(sn.Model):
        def __init__(self):
            super().__init__()
            self.dense = sn.layers.Dense(2)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            return super().compute_loss(x, y, y_pred, sample_weight)

        def call(self, x):
            return self.dense(x)

    model = Plain()
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match='"plain": No loss to compute'):
        model.fit(rng.standard_normal((4, 3)).astype(np.float32), np.zeros((4, 2), np.float32), verbose=0)


def test_the_penalty_gradient_an_override_gives_in_float64(rng):
    """``0.5 * ops.sum(self.losses)`` with a kernel regularizer: d loss / d kernel against finite
    differences (the penalty's gradient enters at its coefficient, 0.5)."""
    class Halved(sn.Model):
        def __init__(self):
            super().__init__()
            self.dense = sn.layers.Dense(2, activation="tanh", kernel_regularizer=sn.regularizers.L2(0.3))

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            return sn.ops.mean((y_pred - y) ** 2) + 0.5 * sn.ops.sum(self.losses)

        def call(self, x):
            return self.dense(x)

    sn.config.set_floatx("float64")
    model = Halved()
    x = rng.standard_normal((5, 3))
    y = rng.standard_normal((5, 2))
    model.compile(optimizer="sgd")
    loss, grads = model.loss_and_grads(x, y)
    kernel = model.dense.params["kernel"].value
    assert loss == pytest.approx(np.mean((model(x) - y) ** 2) + 0.5 * 0.3 * np.sum(kernel**2))
    for p, g in zip(model.weights, grads, strict=True):
        numeric = numeric_grad(lambda: model.loss_and_grads(x, y)[0], p.value)
        assert rel_error(g, numeric) < REL_TOL, p.name


@pytest.mark.parametrize("functional", [False, True], ids=["sequential critic", "functional critic"])
def test_models_called_on_computed_values_inside_the_override_in_float64(rng, functional):
    """The teacher on ``x * 2.0`` and a critic on the prediction (a functional model, then a
    Sequential one): its input's gradient reaches the student. Every weight against finite
    differences."""
    sn.config.set_floatx("float64")
    if functional:
        inputs = sn.Input((3,))
        critic = sn.Model(inputs, sn.layers.Dense(2)(sn.layers.Dense(4, activation="tanh")(inputs)))
    else:
        critic = sn.Sequential([sn.Input((3,)), sn.layers.Dense(4, activation="tanh"), sn.layers.Dense(2)],
                               seed=2)

    class Critic(Distiller):
        def __init__(self, student, teacher):
            super().__init__(student, teacher)
            self.critic = critic

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            return (sn.ops.mean(self.teacher(x * 2.0) * y_pred)
                    + sn.ops.mean(sn.ops.square(self.critic(sn.ops.tanh(y_pred)))))

    model = Critic(_mlp(5, 0), _mlp(3, 1))
    model.compile(optimizer="sgd")
    x = rng.standard_normal((6, 4))
    y = rng.integers(0, 3, 6)
    _, grads = model.loss_and_grads(x, y)
    for p, g in zip(model.weights, grads, strict=True):
        numeric = numeric_grad(lambda: model.loss_and_grads(x, y)[0], p.value)
        assert np.max(np.abs(numeric)) > 1e-6, p.name  # every model's weights are reached
        assert rel_error(g, numeric) < REL_TOL, p.name


@pytest.mark.parametrize("calls", ["twice", "itself"])
def test_a_model_called_twice_or_the_model_itself_inside_the_override_is_refused(rng, calls):
    class Twice(Distiller):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            if calls == "twice":
                return sn.ops.mean(self.teacher(x)) + sn.ops.mean(self.teacher(x * 2.0))
            return sn.ops.mean(self(x * 2.0))

    model = Twice(_mlp(5, 0), _mlp(6, 1))
    model.compile(optimizer="sgd")
    match = r'"sequential(_\d+)?" is called twice' if calls == "twice" else "the model calls itself"
    with pytest.raises(NotImplementedError, match=match):
        model.fit(rng.standard_normal((4, 4)).astype(np.float32), np.zeros(4, int), verbose=0)


def test_the_override_must_return_a_scalar(rng):
    class PerSample(Distiller):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            return y_pred[:, 0]

    model = PerSample(_mlp(5, 0), _mlp(6, 1))
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="scalar loss, received a value of shape"):
        model.fit(rng.standard_normal((4, 4)).astype(np.float32), np.zeros(4, int), verbose=0)
