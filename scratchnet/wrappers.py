"""scikit-learn estimators around a scratchnet model: Keras 3's ``keras.wrappers``.

``SKLearnClassifier``, ``SKLearnRegressor`` and ``SKLearnTransformer`` make a compiled model an
estimator, so it goes into ``cross_val_score``, ``GridSearchCV`` and a ``Pipeline``::

    def make_model(X, y, hidden=8):             # called by fit with the data it will train on
        model = sn.Sequential([sn.Input((X.shape[1],)), sn.layers.Dense(hidden, activation="relu"),
                               sn.layers.Dense(y.shape[1], activation="softmax")])
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        return model

    clf = SKLearnClassifier(make_model, model_kwargs={"hidden": 16}, fit_kwargs={"epochs": 20})
    cross_val_score(clf, X, y, cv=3)            # accuracy of each fold

What ``fit(X, y, **kwargs)`` does, step by step (Keras' ``SKLBase.fit``):

1. scikit-learn checks ``X`` and ``y`` (2-D ``X``, as many rows as ``y``) and remembers the
   number of features, so ``predict`` refuses another;
2. the target is prepared: a regressor or transformer makes a 1-D ``y`` a column ``(n, 1)``; a
   classifier one-hot encodes the labels (any labels: ``["cat", "dog"]``, ``[3, 7]``) into
   ``(n, n_classes)`` and keeps them in ``classes_``;
3. the model is made: ``model(X=X, y=y, **model_kwargs)`` when ``model`` is a function (``y`` the
   prepared target, so the function can read the number of outputs from ``y.shape[1]``), or a
   fresh clone of ``model`` (its architecture and compile settings, new weights) when it is a
   model; it must be compiled;
4. ``model.fit(X, y, **fit_kwargs, **kwargs)``; the model is ``model_`` and its ``History`` is
   ``history_``.

``predict`` runs ``model_.predict`` and undoes step 2: a classifier takes each row's largest
output back to its label, a regressor turns a column back into 1-D. A classifier's raw outputs are
``decision_function(X)``; there is no ``predict_proba``, as in Keras. A transformer's
``transform(X)`` is the model's output. ``score`` is scikit-learn's (accuracy, R²).

Keras quirks kept: ``warm_start`` is stored but never read, so a model instance is cloned on
every fit (a function is called again); ``sklearn.base.clone`` (what ``cross_val_score`` does)
drops ``fit_kwargs``, so in cross-validation pass the fit options through ``model_kwargs``'s
function or ``cross_val_score(..., params=...)``. Unlike Keras, ``fit(X, y, epochs=3)`` does not
write ``epochs`` into ``fit_kwargs`` for later fits (Keras updates that dict in place), and there
is no ``epoch_`` (Keras' reads ``history_.get``, which its ``History`` does not have).
"""

from __future__ import annotations

import copy

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"]


class TargetReshaper(TransformerMixin, BaseEstimator):
    """A 1-D target as a column ``(n,) -> (n, 1)``, and back (``inverse_transform``) when the
    target it was fitted on was 1-D; a 2-D target passes through."""

    def fit(self, y):
        self.ndim_ = y.ndim
        return self

    def transform(self, y):
        return y.reshape(-1, 1) if y.ndim == 1 else y  # (n,) -> (n, 1)

    def inverse_transform(self, y):
        check_is_fitted(self)
        if self.ndim_ == 1 and y.ndim == 2:
            return np.squeeze(y, axis=1)  # (n, 1) -> (n,)
        return y


def _target_type(y) -> str:
    """scikit-learn's name for what ``y`` holds ("binary", "multiclass", "continuous", ...);
    one it cannot name is an error, as in Keras."""
    kind = type_of_target(y)
    if kind == "unknown":
        raise ValueError(f"Unknown label type for data: {y!r}")
    return kind


def _check_model(model) -> None:
    """Keras' rule: the model must come compiled, with a loss and an optimizer."""
    if not getattr(model, "compiled", False) or not getattr(model, "loss", None) \
            or not getattr(model, "optimizer", None):
        raise RuntimeError("Given model needs to be compiled, and have a loss and an optimizer.")


def _clone(model):
    """``keras.models.clone_model`` as the Keras wrapper sees it: the same architecture with new
    weights, compiled as the original was (Keras' clone_model compiles the clone;
    scratchnet's leaves that to the caller)."""
    from scratchnet import saving_keras
    from scratchnet.cloning import clone_model

    clone = clone_model(model)
    if model.compiled:
        config = saving_keras.model_config(model)["compile_config"]
        if hasattr(clone, "_nodes"):
            from scratchnet import saving_functional

            saving_functional.compile_functional(clone, config, "SKLearn wrapper",
                                                 saving_keras._loss_from_keras,
                                                 saving_keras._metric_from_keras)
        else:
            saving_keras._compile_from_config(clone, config, "SKLearn wrapper")
    return clone


class SKLBase(BaseEstimator):
    """What the three wrappers share: the constructor, ``fit`` and ``predict``.

    Args:
        model: a compiled scratchnet model (cloned, with new weights, before each fit), or a
            function ``model(X=X, y=y, **model_kwargs)`` returning one.
        warm_start: Keras' argument, kept for ``get_params``; Keras' wrapper never reads it.
        model_kwargs: keyword arguments for ``model`` when it is a function.
        fit_kwargs: keyword arguments for ``model.fit`` (``epochs``, ``batch_size``, ...); those
            given to ``fit`` itself win.

    Attributes after ``fit``: ``model_`` (the trained model), ``history_`` (its ``History``).
    """

    def __init__(self, model, warm_start=False, model_kwargs=None, fit_kwargs=None):
        self.model = model
        self.warm_start = warm_start
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        return tags

    def __sklearn_clone__(self):
        """``sklearn.base.clone``: a new unfitted wrapper; a model instance is deep-copied, a
        function shared. As Keras' does, it leaves ``fit_kwargs`` out."""
        model = self.model if callable(self.model) else copy.deepcopy(self.model)
        return type(self)(model=model, warm_start=self.warm_start, model_kwargs=self.model_kwargs)

    def _get_model(self, X, y):
        from scratchnet.model import Model

        if isinstance(self.model, Model):
            return _clone(self.model)
        if not callable(self.model):
            raise TypeError(f"{type(self).__name__}: expected model to be a compiled scratchnet "
                            f"model or a function returning one, received {self.model!r}")
        return self.model(X=X, y=y, **(self.model_kwargs or {}))

    def fit(self, X, y, **kwargs):
        """Train a new model on ``X`` ``(n_samples, n_features)`` and ``y`` ``(n_samples,)`` or
        ``(n_samples, n_outputs)``; ``kwargs`` go to ``model.fit``."""
        X, y = validate_data(self, X, y)
        y = self._process_target(y, reset=True)
        model = self._get_model(X, y)
        _check_model(model)
        fit_kwargs = {**(self.fit_kwargs or {}), **kwargs}
        self.history_ = model.fit(X, y, **fit_kwargs)
        self.model_ = model
        return self

    def predict(self, X):
        """The model's outputs for ``X``, back in the target's form (labels, 1-D)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self._reverse_process_target(self.model_.predict(X))

    def _process_target(self, y, reset=False):
        """Regressor and transformer: a 1-D target becomes a column."""
        _target_type(y)
        if reset:
            self._target_encoder = TargetReshaper().fit(y)
        return self._target_encoder.transform(y)

    def _reverse_process_target(self, y):
        return self._target_encoder.inverse_transform(y)


class SKLearnClassifier(ClassifierMixin, SKLBase):
    """A classifier (``keras.wrappers.SKLearnClassifier``): labels are one-hot encoded for the
    model (``(n,) -> (n, n_classes)``, columns in the order of ``classes_``), and ``predict``
    gives back, per row, the label of the largest output. Binary and multiclass targets only.

    Build the model for a ``categorical_crossentropy`` loss and ``y.shape[1]`` outputs (softmax):
    even two classes arrive as two one-hot columns.
    """

    def decision_function(self, X):
        """The model's raw outputs for ``X`` (``(n_samples, n_classes)``)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.model_.predict(X)

    def _process_target(self, y, reset=False):
        kind = _target_type(y)
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"Only binary and multiclass target types are supported. Target type: {kind}")
        if reset:
            self._target_encoder = make_pipeline(TargetReshaper(),
                                                 OneHotEncoder(sparse_output=False)).fit(y)
            self.classes_ = np.unique(y)
            if len(self.classes_) == 1:
                raise ValueError("Classifier can't train when only one class is present.")
        return self._target_encoder.transform(y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        return tags


class SKLearnRegressor(RegressorMixin, SKLBase):
    """A regressor (``keras.wrappers.SKLearnRegressor``): a 1-D target is given to the model as a
    column ``(n, 1)`` and ``predict`` returns 1-D again; ``score`` is R²."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        return tags


class SKLearnTransformer(TransformerMixin, SKLBase):
    """A scikit-learn transformer (``keras.wrappers.SKLearnTransformer``; not an attention
    Transformer): ``fit`` trains the model on ``(X, y)``, ``transform(X)`` returns its outputs,
    e.g. an embedding for the next step of a ``Pipeline``."""

    def transform(self, X):
        """The model's outputs for ``X``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.model_.predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        return tags
