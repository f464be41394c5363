"""A model class that overrides Keras' ``compute_loss(x, y, y_pred, sample_weight)``
(scratchnet/custom_loss.py) against Keras 3.15: keras.io's knowledge-distillation ``Distiller``
(a teacher model called inside the override, ``ops.softmax`` of logits over a temperature, a
``KLDivergence`` between them, a ``SparseCategoricalCrossentropy`` on the labels), and an override
written with ``ops`` alone. The same code makes the models in both libraries, from the same
weights; per-epoch losses and metrics of ``fit``, ``evaluate``, and every weight afterwards (the
teacher's too: its weights are the distiller's, and the loss's gradient reaches them in Keras)
agree at GRAD_RTOL / TRAJECTORY_RTOL."""

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import GRAD_RTOL, TRAJECTORY_RTOL, assert_close


def _classes(K):
    class Distiller(K.Model):
        """keras.io's example, as written there."""

        def __init__(self, student, teacher):
            super().__init__()
            self.teacher = teacher
            self.student = student

        def compile(self, optimizer, metrics, student_loss_fn, distillation_loss_fn, alpha=0.1,
                    temperature=3):
            super().compile(optimizer=optimizer, metrics=metrics)
            self.student_loss_fn = student_loss_fn
            self.distillation_loss_fn = distillation_loss_fn
            self.alpha = alpha
            self.temperature = temperature

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, allow_empty=False):
            teacher_pred = self.teacher(x, training=False)
            student_loss = self.student_loss_fn(y, y_pred)
            distillation_loss = self.distillation_loss_fn(
                K.ops.softmax(teacher_pred / self.temperature, axis=1),
                K.ops.softmax(y_pred / self.temperature, axis=1),
            ) * (self.temperature**2)
            return self.alpha * student_loss + (1 - self.alpha) * distillation_loss

        def call(self, x):
            return self.student(x)

    class Scaled(K.Model):
        """An override of ops alone, taking ``training`` (Keras passes it when it is taken)."""

        def __init__(self):
            super().__init__()
            self.dense = K.layers.Dense(3)

        def compute_loss(self, x, y, y_pred, sample_weight=None, training=True):
            return K.ops.mean((y_pred - y) ** 2) * 2.0 + K.ops.mean(K.ops.abs(y_pred))

        def call(self, x):
            return self.dense(x)

    return Distiller, Scaled


def _convnet(K, filters, name):
    return K.Sequential([
        K.Input(shape=(8, 8, 1)),
        K.layers.Conv2D(filters, (3, 3), strides=(2, 2), padding="same"),
        K.layers.LeakyReLU(negative_slope=0.2),
        K.layers.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding="same"),
        K.layers.Flatten(),
        K.layers.Dense(4),
    ], name=name)


def _distiller(K, weights, optimizer):
    Distiller, _ = _classes(K)
    teacher, student = _convnet(K, 6, "teacher"), _convnet(K, 3, "student")
    teacher.set_weights(weights[0])
    student.set_weights(weights[1])
    distiller = Distiller(student=student, teacher=teacher)
    distiller.compile(optimizer=optimizer, metrics=[K.metrics.SparseCategoricalAccuracy()],
                      student_loss_fn=K.losses.SparseCategoricalCrossentropy(from_logits=True),
                      distillation_loss_fn=K.losses.KLDivergence(), alpha=0.1, temperature=10)
    return distiller, teacher, student


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_the_distiller_trains_as_in_keras(optimizer):
    rng = np.random.default_rng(0)
    x = rng.random((40, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 4, 40)
    start = [_convnet(keras, 6, "t").get_weights(), _convnet(keras, 3, "s").get_weights()]
    kopt = keras.optimizers.SGD(0.5) if optimizer == "sgd" else keras.optimizers.Adam(0.01)
    sopt = sn.optimizers.SGD(0.5) if optimizer == "sgd" else sn.optimizers.Adam(0.01)
    kd, kteacher, kstudent = _distiller(keras, start, kopt)
    sd, steacher, sstudent = _distiller(sn, start, sopt)
    kh = kd.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0).history
    sh = sd.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0).history
    assert list(sh) == list(kh) == ["loss", "sparse_categorical_accuracy"]
    assert_close(sh["loss"], kh["loss"], GRAD_RTOL, "distiller: loss per epoch")
    assert_close(sh["sparse_categorical_accuracy"], kh["sparse_categorical_accuracy"], GRAD_RTOL,
                 "distiller: accuracy per epoch")
    for name, s_model, k_model in (("teacher", steacher, kteacher), ("student", sstudent, kstudent)):
        for s, k in zip(s_model.get_weights(), k_model.get_weights(), strict=True):
            assert_close(s, k, TRAJECTORY_RTOL, f"{name} weights after fit")
    moved = max(np.max(np.abs(a - b)) for a, b in zip(steacher.get_weights(), start[0], strict=True))
    assert moved > 1e-4  # Keras' example moves its teacher; so does scratchnet
    assert_close(sd.evaluate(x, y, verbose=0), kd.evaluate(x, y, verbose=0), GRAD_RTOL, "evaluate")


def test_an_override_of_ops_alone_trains_as_in_keras():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((24, 5)).astype(np.float32)
    y = rng.standard_normal((24, 3)).astype(np.float32)
    models = []
    for K in (keras, sn):
        _, Scaled = _classes(K)
        model = Scaled()
        model(x[:2])
        models.append(model)
    kmodel, smodel = models
    smodel.set_weights(kmodel.get_weights())
    kmodel.compile(optimizer=keras.optimizers.SGD(0.1))
    smodel.compile(optimizer=sn.optimizers.SGD(0.1))
    kh = kmodel.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history
    sh = smodel.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history
    assert_close(sh["loss"], kh["loss"], GRAD_RTOL, "loss per epoch")
    for s, k in zip(smodel.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(s, k, TRAJECTORY_RTOL, "weights after fit")
    assert_close(smodel.evaluate(x, y, verbose=0), kmodel.evaluate(x, y, verbose=0), GRAD_RTOL, "evaluate")
