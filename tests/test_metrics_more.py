"""The metrics added after the first set (top-k accuracy, the regression and loss-mean metrics,
R2Score, the F-scores, IoU and Sum) in scratchnet alone: golden values worked by hand or taken from
Keras 3.15.1's docstrings, accumulation over several weighted batches, reset, Keras' names and
configs, and bad-input errors."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import metrics

L = sn.layers
F = np.float32


# ----------------------------------------------------------------------------- top-k accuracy
def test_top_k_keras_examples():
    p = [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]
    for m, y in ((metrics.TopKCategoricalAccuracy(k=1), [[0, 0, 1], [0, 1, 0]]),
                 (metrics.SparseTopKCategoricalAccuracy(k=1), [2, 1]),
                 (metrics.SparseTopKCategoricalAccuracy(k=1), [[2], [1]])):
        m.update(y, p)
        assert m.result() == pytest.approx(0.5)
        m.reset()
        m.update(y, p, sample_weight=[0.7, 0.3])
        assert m.result() == pytest.approx(0.3)


def test_top_k_ties_count_in_as_tf_in_top_k():
    """A label is in the top k when fewer than k scores are strictly higher: every tied class at
    the boundary is in."""
    m = metrics.SparseTopKCategoricalAccuracy(k=1)
    m.update([3, 0, 1], [[1, 1, 1, 1], [0.5, 0.9, 0.9, 0.1], [0.5, 0.9, 0.9, 0.1]])
    assert m.result() == pytest.approx(2 / 3)  # label 3 of a flat row is in; 0 is not; 1 is
    m = metrics.SparseTopKCategoricalAccuracy(k=2)
    m.update([0, 3], [[0.5, 0.9, 0.9, 0.1], [0.2, 0.2, 0.3, 0.2]])
    assert m.result() == pytest.approx(0.5)  # two higher than 0.5; one higher than 0.2


def test_top_k_nan_out_of_range_and_k_above_the_class_count():
    m = metrics.SparseTopKCategoricalAccuracy(k=2)
    m.update([0, 3, -1, 1], [[np.nan, 1, 0], [1, 2, 3], [1, 2, 3], [np.inf, np.inf, 0]])
    assert m.result() == 0.0  # a NaN or infinite target score, labels 3 and -1 of 3 classes
    m = metrics.TopKCategoricalAccuracy()  # k = 5 > 3 classes: always in
    m.update([[0, 0, 1], [1, 0, 0]], [[0.9, 0.1, 0.0], [0.0, 0.5, 0.5]])
    assert m.result() == 1.0 and m.k == 5


def test_top_k_labels_are_cast_like_keras():
    """One-hot labels go through argmax (the first maximum); float class ids are truncated."""
    m = metrics.TopKCategoricalAccuracy(k=1)
    m.update([[0.5, 0.5, 0]], [[1, 0, 0]])  # argmax -> class 0
    m.update([[0, 0, 0]], [[0, 0, 1]])  # all zeros -> class 0, scored below class 2
    assert m.result() == pytest.approx(0.5)
    m = metrics.SparseTopKCategoricalAccuracy(k=1)
    m.update(np.array([1.7, 0.2]), [[0.1, 0.8, 0.1], [0.1, 0.8, 0.1]])
    assert m.result() == pytest.approx(0.5)


def test_top_k_accumulates_weighted_batches_and_resets():
    m = metrics.SparseTopKCategoricalAccuracy(k=2)
    m.update([0, 2], [[0.5, 0.3, 0.2], [0.5, 0.3, 0.2]], sample_weight=[1, 2])  # hit, miss
    m.update([1], [[0.1, 0.2, 0.7]], sample_weight=[3])  # hit
    assert m.result() == pytest.approx((1 + 0 + 3) / (1 + 2 + 3))
    m.update([0, 0], [[0, 1, 2], [2, 1, 0]])  # miss, hit; unweighted counts 1 each
    assert m.result() == pytest.approx(5 / 8)
    m.reset_state()
    assert m.result() == 0.0


def test_sparse_top_k_from_sorted_ids():
    m = metrics.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True)
    m.update([7, 3, 1], [[7, 1, 3], [7, 1, 3], [9, 1, 1]])  # in, not in the first 2, in once
    assert m.result() == pytest.approx(2 / 3)
    assert m.get_config() == {"name": "sparse_top_k_categorical_accuracy", "k": 2,
                              "from_sorted_ids": True}
    assert metrics.SparseTopKCategoricalAccuracy().get_config() == {
        "name": "sparse_top_k_categorical_accuracy", "k": 5}


def test_top_k_over_time_steps_averages_per_sample():
    m = metrics.SparseTopKCategoricalAccuracy(k=1)
    p = np.array([[[0.9, 0.1], [0.2, 0.8]], [[0.9, 0.1], [0.9, 0.1]]])  # (2, 2 steps, 2)
    m.update([[0, 1], [1, 1]], p, sample_weight=[1, 3])  # sample 0: 1.0, sample 1: 0.0
    assert m.result() == pytest.approx(0.25)


# ----------------------------------------------------------------------------- regression
def test_root_mean_squared_error():
    y, p = F([[0, 1], [0, 0]]), F([[1, 1], [0, 0]])
    m = metrics.RootMeanSquaredError()
    m.update(y, p)
    assert m.result() == pytest.approx(0.5)  # sqrt((0.5 + 0) / 2), Keras' docstring
    m.reset()
    m.update(y, p, sample_weight=[1, 0])
    assert m.result() == pytest.approx(0.70710677)
    m.update(F([[2, 0]]), F([[0, 0]]), sample_weight=[3])  # per-sample mean 2, weight 3
    assert m.result() == pytest.approx(np.sqrt((0.5 * 1 + 2 * 3) / (1 + 0 + 3)))


# Keras 3.15.1's docstring examples (the weighted ones use sample_weight [1, 0]), and by hand:
# hinge labels 0/1 -> -1/1: rows (1.6 + 0.6) / 2 = 1.1 and (1.4 + 1.6) / 2 = 1.5, mean 1.3.
LOSS_MEANS = [
    (metrics.MeanAbsolutePercentageError, [[0, 1], [0, 0]], [[1, 1], [0, 0]], 250000000.0, 500000000.0),
    (metrics.MeanSquaredLogarithmicError, [[0, 1], [0, 0]], [[1, 1], [0, 0]], 0.12011322, 0.24022643),
    (metrics.LogCoshError, [[0, 1], [0, 0]], [[1, 1], [0, 0]], 0.10844523, 0.21689045),
    (metrics.Poisson, [[0, 1], [0, 0]], [[1, 1], [0, 0]], 0.49999997, 0.99999994),
    (metrics.KLDivergence, [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 0.45814306, 0.9162892),
    (metrics.Hinge, [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 1.3, 1.1),
    (metrics.SquaredHinge, [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 1.86, 1.46),
    (metrics.CategoricalHinge, [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 1.4, 1.2),
]


@pytest.mark.parametrize("cls, y, p, plain, weighted", LOSS_MEANS, ids=lambda v: getattr(v, "__name__", ""))
def test_loss_means_keras_examples(cls, y, p, plain, weighted):
    m = cls()
    m.update(F(y), F(p))
    assert m.result() == pytest.approx(plain, rel=1e-6)
    m.reset()
    m.update(F(y), F(p), sample_weight=[1, 0])
    assert m.result() == pytest.approx(weighted, rel=1e-6)
    assert m.get_config() == {"name": m.name}


def test_hinge_maps_labels_per_batch():
    """{0, 1} labels become {-1, 1} batch by batch: a batch of -1/1 labels is left alone."""
    m = metrics.Hinge()
    m.update(F([[1], [0]]), F([[0.5], [0.5]]))  # -> 1, -1: losses 0.5, 1.5
    m.update(F([[-1], [1]]), F([[0.5], [2.0]]))  # kept: losses 1.5, 0
    assert m.result() == pytest.approx((0.5 + 1.5 + 1.5 + 0) / 4)


def test_cosine_similarity_and_its_sign():
    m = metrics.CosineSimilarity()
    m.update(F([[0, 1], [1, 1]]), F([[1, 0], [1, 1]]))
    assert m.result() == pytest.approx(0.5, rel=1e-6)
    m.reset()
    m.update(F([[0, 1], [1, 1]]), F([[1, 0], [1, 1]]), sample_weight=[0.3, 0.7])
    assert m.result() == pytest.approx(0.7, rel=1e-6)
    m.reset()
    m.update(F([[1, 0], [0, 0]]), F([[-2, 0], [1, 1]]))  # opposite; a zero target gives 0
    assert m.result() == pytest.approx(-0.5, rel=1e-6)


def test_loss_means_accumulate_over_weighted_batches():
    m = metrics.Poisson()
    y1, p1 = F([[1, 0]]), F([[2, 1]])
    y2, p2 = F([[0, 3], [1, 1]]), F([[1, 1], [1, 1]])

    def poisson(y, p):
        return np.mean(p - y * np.log(p + 1e-7), axis=-1)

    m.update(y1, p1, sample_weight=[2])
    m.update(y2, p2, sample_weight=[1, 0.5])
    expected = (2 * poisson(y1, p1).sum() + poisson(y2, p2) @ [1, 0.5]) / 3.5
    assert m.result() == pytest.approx(expected, rel=1e-6)


def test_log_cosh_error_default_name_is_keras_logcosh():
    assert metrics.LogCoshError().name == "logcosh"
    assert metrics.get("log_cosh_error", "mse", 1).name == "log_cosh_error"


# ----------------------------------------------------------------------------- R2Score
def test_r2_keras_example_and_by_hand():
    m = metrics.R2Score()
    m.update(F([[1], [4], [3]]), F([[2], [4], [4]]))
    assert m.result() == pytest.approx(0.57142854, rel=1e-6)  # 1 - 2 / (26 - 64 / 3)


def test_r2_aggregations_and_weights():
    y = F([[1, 0], [2, 2], [3, 4]])
    p = F([[1, 1], [3, 2], [3, 2]])
    # column 0: mean 2, total 2, residual 1 -> 0.5; column 1: mean 2, total 8, residual 5 -> 3/8
    m = metrics.R2Score(class_aggregation=None)
    m.update(y, p)
    np.testing.assert_allclose(m.result(), [0.5, 0.375], rtol=1e-6)
    m = metrics.R2Score(class_aggregation="variance_weighted_average")
    m.update(y, p)
    assert m.result() == pytest.approx((2 * 0.5 + 8 * 0.375) / 10, rel=1e-6)
    m = metrics.R2Score()
    m.update(y, p, sample_weight=[2, 0, 1])  # rows 0 and 2 only, row 0 twice
    # column 0: S=5, Q=11, C=3, total = 11 - 25/3 = 8/3, residual 0 -> 1
    # column 1: S=4, Q=16, C=3, total = 16 - 16/3 = 32/3, residual 2 + 4 = 6 -> 1 - 18/32
    assert m.result() == pytest.approx((1 + 1 - 18 / 32) / 2, rel=1e-6)


def test_r2_accumulates_like_one_batch_and_resets():
    rng = np.random.default_rng(0)
    y, p, w = rng.standard_normal((9, 3)), rng.standard_normal((9, 3)), rng.uniform(0, 2, 9)
    whole, parts = metrics.R2Score(), metrics.R2Score()
    whole.update(y, p, sample_weight=w)
    for rows in (slice(0, 4), slice(4, 5), slice(5, 9)):
        parts.update(y[rows], p[rows], sample_weight=w[rows])
    assert parts.result() == pytest.approx(whole.result(), rel=1e-5)
    parts.reset()
    with np.errstate(invalid="ignore"):
        assert np.isnan(parts.result())  # Keras: 0 / 0 after reset_state


def test_r2_adjusted_and_its_fallback():
    y, p = F([[1], [4], [3], [5]]), F([[2], [4], [4], [5]])
    plain = metrics.R2Score()
    plain.update(y, p)
    r2 = plain.result()
    m = metrics.R2Score(num_regressors=1)
    m.update(y, p)
    assert m.result() == pytest.approx(1 - (1 - r2) * 3 / 2, rel=1e-6)
    m = metrics.R2Score(num_regressors=3)  # k = n - 1: Keras warns and keeps the plain score
    m.update(y, p)
    with pytest.warns(UserWarning, match="standard R2"):
        assert m.result() == pytest.approx(r2)


def test_r2_constant_target_gives_zero_not_infinity():
    m = metrics.R2Score(class_aggregation=None)
    m.update(F([[1, 1], [1, 2]]), F([[2, 1], [0, 2]]))
    np.testing.assert_allclose(m.result(), [0.0, 1.0])


# ----------------------------------------------------------------------------- F-scores
Y_F = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]], "f4")
P_F = np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]], "f4")


def test_f1_and_fbeta_keras_examples():
    m = metrics.F1Score(threshold=0.5)
    m.update(Y_F, P_F)
    np.testing.assert_allclose(m.result(), [0.5, 0.8, 0.6666667], rtol=1e-6)
    m = metrics.FBetaScore(beta=2.0, threshold=0.5)
    m.update(Y_F, P_F)
    np.testing.assert_allclose(m.result(), [0.3846154, 0.90909094, 0.8333334], rtol=1e-6)


def test_f1_averages_by_hand():
    # threshold 0.5: TP = [1, 2, 1], FP = [0, 1, 1], FN = [2, 0, 0], support = [3, 2, 1]
    f1 = np.array([0.5, 0.8, 2 / 3])
    for average, expected in (("macro", f1.mean()), ("weighted", f1 @ [3, 2, 1] / 6),
                              ("micro", 2 * (4 / 6) * (4 / 6) / (4 / 6 + 4 / 6))):
        m = metrics.F1Score(average=average, threshold=0.5)
        m.update(Y_F, P_F)
        assert m.result() == pytest.approx(expected, rel=1e-5), average


def test_f1_without_threshold_takes_every_row_maximum_but_not_zeros():
    m = metrics.F1Score()
    m.update(F([[1, 0, 0], [0, 1, 0], [0, 0, 1]]), F([[0.5, 0.5, 0.0], [0.1, 0.7, 0.2], [0, 0, 0]]))
    # row 0 predicts classes 0 and 1 (a tie); row 2 predicts nothing (all zeros)
    # TP = [1, 1, 0], FP = [0, 1, 0], FN = [0, 0, 1] -> F1 = [1, 2/3, 0]
    np.testing.assert_allclose(m.result(), [1.0, 2 / 3, 0.0], rtol=1e-5, atol=1e-6)


def test_f1_weighted_batches_accumulate_and_reset():
    m = metrics.F1Score(average="micro", threshold=0.5)
    m.update(Y_F[:2], P_F[:2], sample_weight=[2, 1])
    m.update(Y_F[2:], P_F[2:], sample_weight=[0.5])
    # row 0 (w 2): TP 2, FP 0, FN 1; row 1 (w 1): TP 0, FP 2, FN 1; row 2 (w 0.5): TP 2
    tp, fp, fn = 2 * 2 + 0.5 * 2, 1 * 2, 2 * 1 + 1 * 1
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert m.result() == pytest.approx(2 * precision * recall / (precision + recall), rel=1e-5)
    m.reset()
    m.update(F([[1, 0]]), F([[0.9, 0.1]]))
    assert m.result() == pytest.approx(1.0, rel=1e-5)


def test_f_score_configs_are_keras():
    assert metrics.F1Score().get_config() == {"name": "f1_score", "average": None, "threshold": None}
    assert metrics.FBetaScore(average="macro", beta=0.5, threshold=0.4).get_config() == {
        "name": "fbeta_score", "average": "macro", "beta": 0.5, "threshold": 0.4}


# ----------------------------------------------------------------------------- IoU
def test_iou_keras_examples_and_integer_weights():
    m = metrics.IoU(num_classes=2, target_class_ids=[0])
    m.update([0, 0, 1, 1], [0, 1, 0, 1])
    assert m.result() == pytest.approx(1 / 3, rel=1e-6)  # cm [[1, 1], [1, 1]]: 1 / (2 + 2 - 1)
    m.reset()
    m.update([0, 0, 1, 1], [0, 1, 0, 1], sample_weight=[0.3, 0.3, 0.3, 0.1])
    assert m.result() == 0.0  # Keras' default dtype is int64: every weight truncates to 0
    with pytest.warns(UserWarning, match="IoU: you are passing weight as `float`, but dtype is `int`"):
        m.update([0, 0, 1, 1], [0, 1, 0, 1], sample_weight=np.array([0.3, 0.3, 0.3, 0.1]))
    m = metrics.IoU(num_classes=2, target_class_ids=[0], dtype="float32")
    m.update([0, 0, 1, 1], [0, 1, 0, 1], sample_weight=[0.3, 0.3, 0.3, 0.1])
    assert m.result() == pytest.approx(0.3 / (0.6 + 0.6 - 0.3), rel=1e-6)


def test_mean_iou_and_binary_iou_keras_examples():
    m = metrics.MeanIoU(num_classes=2)
    m.update([0, 0, 1, 1], [0, 1, 0, 1])
    assert m.result() == pytest.approx(1 / 3, rel=1e-6)
    m = metrics.MeanIoU(num_classes=2, dtype="float32")
    m.update([0, 0, 1, 1], [0, 1, 0, 1], sample_weight=[0.3, 0.3, 0.3, 0.1])
    assert m.result() == pytest.approx((0.3 / 0.9 + 0.1 / 0.7) / 2, rel=1e-5)
    m = metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.3)
    m.update([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7])
    assert m.result() == pytest.approx(1 / 3, rel=1e-6)
    m = metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.3, dtype="float32")
    m.update([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7], sample_weight=[0.2, 0.3, 0.4, 0.1])
    assert m.result() == pytest.approx((0.2 / 0.9 + 0.1 / 0.8) / 2, rel=1e-5)


def test_iou_casts_masks_and_ignores_like_keras():
    # int64: -0.5 and 0.7 truncate to class 0, weight 1.5 to 1
    m = metrics.IoU(num_classes=3, target_class_ids=[0, 1, 2])
    m.update([-0.5, 0.7, 2.2, 1, 5], [0, 0, 2, 1.9, 1], sample_weight=[1.5, 1, 1, 1, 1])
    np.testing.assert_array_equal(m.total_cm, [[2, 0, 0], [0, 1, 0], [0, 0, 1]])
    m = metrics.IoU(num_classes=3, target_class_ids=[0, 1, 2], dtype="float32")
    m.update([-0.5, 0.7, 2.2, 1, 5], [0, 0, 2, 1.9, 1], sample_weight=[1.5, 1, 1, 1, 1])
    np.testing.assert_array_equal(m.total_cm, np.eye(3))  # -0.5 is out of range in float32
    m = metrics.MeanIoU(num_classes=3, ignore_class=0)
    m.update([[0, 1], [2, 2]], [[1, 1], [2, 0]])  # flattened; the pair with label 0 is dropped
    # cm: (1, 1), (2, 2), (2, 0) -> class 0 IoU 0 (0 / 1), class 1 IoU 1, class 2 IoU 1 / 2
    assert m.result() == pytest.approx((0 + 1 + 0.5) / 3, rel=1e-6)


def test_one_hot_inputs_and_accumulation():
    m = metrics.MeanIoU(num_classes=2, sparse_y_true=False, sparse_y_pred=False)
    m.update(F([[1, 0], [0, 1]]), F([[0.8, 0.2], [0.6, 0.4]]), sample_weight=[2, 1])
    m.update(F([[0, 1]]), F([[0.1, 0.9]]))
    # cm [[2, 0], [1, 1]]: class 0 IoU 2 / 3, class 1 IoU 1 / 2
    assert m.result() == pytest.approx((2 / 3 + 1 / 2) / 2, rel=1e-6)
    m.reset_state()
    assert m.result() == 0.0 and not m.total_cm.any()


def test_iou_configs_are_keras():
    assert metrics.IoU(3, [1, 2]).get_config() == {
        "name": "io_u", "dtype": "int64", "num_classes": 3, "target_class_ids": [1, 2],
        "ignore_class": None, "sparse_y_true": True, "sparse_y_pred": True, "axis": -1}
    assert metrics.MeanIoU(2, dtype="float32").get_config() == {
        "name": "mean_io_u", "dtype": "float32", "num_classes": 2, "ignore_class": None,
        "sparse_y_true": True, "sparse_y_pred": True, "axis": -1}
    assert metrics.BinaryIoU().get_config() == {"name": "binary_io_u", "dtype": "int64",
                                                "target_class_ids": [0, 1], "threshold": 0.5}


# ----------------------------------------------------------------------------- Sum
def test_sum_keras_examples():
    m = metrics.Sum()
    m.update([1, 3, 5, 7])
    assert m.result() == 16.0
    m.reset()
    m.update([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert m.result() == 4.0
    m.update([[1, 2], [3, 4]], sample_weight=[2, 0])  # rows summed, then weighted
    assert m.result() == 4.0 + 6.0


# ----------------------------------------------------------------------------- names, compile
@pytest.mark.parametrize("name, cls", [
    ("top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy),
    ("TopKCategoricalAccuracy", metrics.TopKCategoricalAccuracy),
    ("sparse_top_k_categorical_accuracy", metrics.SparseTopKCategoricalAccuracy),
    ("root_mean_squared_error", metrics.RootMeanSquaredError),
    ("mape", metrics.MeanAbsolutePercentageError), ("MAPE", metrics.MeanAbsolutePercentageError),
    ("mean_absolute_percentage_error", metrics.MeanAbsolutePercentageError),
    ("msle", metrics.MeanSquaredLogarithmicError), ("MSLE", metrics.MeanSquaredLogarithmicError),
    ("log_cosh_error", metrics.LogCoshError), ("LogCoshError", metrics.LogCoshError),
    ("cosine_similarity", metrics.CosineSimilarity), ("kl_divergence", metrics.KLDivergence),
    ("poisson", metrics.Poisson), ("hinge", metrics.Hinge), ("squared_hinge", metrics.SquaredHinge),
    ("categorical_hinge", metrics.CategoricalHinge), ("r2_score", metrics.R2Score),
    ("f1_score", metrics.F1Score), ("f_beta_score", metrics.FBetaScore),
    ("FBetaScore", metrics.FBetaScore), ("binary_io_u", metrics.BinaryIoU),
])
def test_names_resolve_as_keras_metrics_get(name, cls):
    metrics.validate(name)
    m = metrics.get(name, "mean_squared_error", 3)
    assert type(m) is cls and m.name == name


@pytest.mark.parametrize("name", ["logcosh", "fbeta_score", "rmse", "kld", "top_k"])
def test_names_keras_metrics_get_does_not_know(name):
    with pytest.raises(ValueError, match=f"unknown metric '{name}'"):
        metrics.validate(name)


@pytest.mark.parametrize("name", ["io_u", "mean_io_u", "IoU"])
def test_iou_names_need_num_classes(name):
    with pytest.raises(ValueError, match=rf"metric '{name}' \((Mean)?IoU\) needs arguments"):
        metrics.validate(name)


def test_fit_logs_the_new_metrics():
    model = sn.Sequential([L.Input((3,)), L.Dense(4, activation="softmax")], seed=0)
    model.compile("sgd", "categorical_crossentropy",
                  metrics=["top_k_categorical_accuracy", "root_mean_squared_error",
                           metrics.F1Score(average="macro"), metrics.TopKCategoricalAccuracy(k=1)])
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((10, 3)).astype("f4"), np.eye(4, dtype="f4")[rng.integers(0, 4, 10)]
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0).history
    assert set(history) == {"loss", "top_k_categorical_accuracy", "root_mean_squared_error",
                            "f1_score", "top_k_categorical_accuracy_1"}
    assert history["top_k_categorical_accuracy"] == [1.0, 1.0]  # k = 5 > 4 classes
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    top1 = metrics.TopKCategoricalAccuracy(k=1)
    top1.update(y, model.predict(x, verbose=0))
    assert logs["top_k_categorical_accuracy_1"] == pytest.approx(top1.result())


def test_per_class_results_log_and_print(capsys):
    model = sn.Sequential([L.Input((3,)), L.Dense(3, activation="softmax")], seed=0)
    model.compile("sgd", "categorical_crossentropy", metrics=["f1_score"])
    x, y = np.ones((4, 3), "f4"), np.eye(3, dtype="f4")[[0, 1, 2, 0]]
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=2).history
    assert history["f1_score"][0].shape == (3,)
    assert "f1_score: [" in capsys.readouterr().out


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("make, words", [
    (lambda: metrics.TopKCategoricalAccuracy(k=0), ["TopKCategoricalAccuracy", "positive integer", "k=0"]),
    (lambda: metrics.SparseTopKCategoricalAccuracy(k=2.5), ["SparseTopK", "k=2.5"]),
    (lambda: metrics.R2Score(class_aggregation="mean"), ["R2Score", "class_aggregation", "'mean'"]),
    (lambda: metrics.R2Score(num_regressors=-1), ["R2Score", "num_regressors", "-1"]),
    (lambda: metrics.F1Score(average="samples"), ["F1Score", "average", "'samples'"]),
    (lambda: metrics.FBetaScore(beta=2), ["FBetaScore", "beta", "Python float", "int"]),
    (lambda: metrics.FBetaScore(beta=-1.0), ["FBetaScore", "> 0", "-1.0"]),
    (lambda: metrics.F1Score(threshold=1.5), ["F1Score", "0 < threshold <= 1", "1.5"]),
    (lambda: metrics.F1Score(threshold=1), ["F1Score", "threshold", "Python float"]),
    (lambda: metrics.IoU(num_classes=2, target_class_ids=[2]), ["IoU", "target class id 2",
                                                               "[0, 2)"]),
    (lambda: metrics.MeanIoU(num_classes=0), ["MeanIoU", "num_classes", "0"]),
    (lambda: metrics.CosineSimilarity(axis=0), ["CosineSimilarity", "axis=-1", "axis=0"]),
])
def test_bad_arguments(make, words):
    with pytest.raises(ValueError) as info:
        make()
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("metric, y, p, match", [
    (metrics.TopKCategoricalAccuracy(), np.array([0, 1]), np.zeros((2, 3)),
     r"one-hot y_true of the shape of y_pred \(2, 3\), received shape \(2,\) \(integer labels"),
    (metrics.SparseTopKCategoricalAccuracy(), np.zeros((2, 3)), np.zeros((2, 3)),
     r"integer labels of shape \(2,\) for y_pred of shape \(2, 3\), received shape \(2, 3\)"),
    (metrics.RootMeanSquaredError(), np.zeros((2, 3)), np.zeros((2, 2)),
     r"RootMeanSquaredError: expected y_true of the same shape"),
    (metrics.R2Score(), np.zeros(4), np.zeros(4), r"R2Score expects 2D inputs"),
    (metrics.F1Score(), np.zeros((2, 3, 1)), np.zeros((2, 3, 1)), r"F1Score expects 2D inputs"),
    (metrics.Poisson(), np.zeros((2, 3)), np.zeros((2, 2)), r"poisson: expected targets of shape"),
    (metrics.IoU(2, [0]), np.zeros(3), np.zeros(4), r"IoU: expected as many labels as predictions"),
])
def test_bad_inputs(metric, y, p, match):
    with pytest.raises(ValueError, match=match):
        metric.update(y, p)


def test_bad_weights_and_changed_widths():
    with pytest.raises(ValueError, match=r"F1Score: expected sample_weight of shape \(2,\)"):
        metrics.F1Score().update(np.eye(2), np.eye(2), sample_weight=[[1], [2]])
    with pytest.raises(ValueError, match=r"IoU: expected sample_weight with one value per label"):
        metrics.IoU(2, [0]).update([0, 1], [0, 1], sample_weight=[1, 2, 3])
    m = metrics.R2Score()
    m.update(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="R2Score: expected 3 output columns"):
        m.update(np.zeros((2, 2)), np.zeros((2, 2)))
    f1 = metrics.F1Score()
    f1.update(np.eye(3), np.eye(3))
    with pytest.raises(ValueError, match="F1Score: expected 3 classes"):
        f1.update(np.eye(2), np.eye(2))
    with pytest.raises(ValueError, match="no data yet"):
        metrics.FBetaScore().result()
    with pytest.raises(ValueError, match="no data yet"):
        metrics.R2Score().result()
