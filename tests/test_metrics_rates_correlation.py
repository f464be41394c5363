"""The rate-at-rate metrics and the correlations in scratchnet alone: results worked by hand on
small batches, and a clear error for each bad argument or input. Keras parity:
parity_tests/test_metrics_rates_correlation_keras.py."""

import numpy as np
import pytest

import scratchnet as sn

M = sn.metrics


def test_rates_worked_by_hand():
    """Labels 1 1 0 0, predictions .9 .4 .6 .1, thresholds 0, .5, 1: at 0 everything is positive
    (sensitivity 1, specificity 0, precision .5); at .5 the .9 and .6 are (sensitivity .5,
    specificity .5, precision .5); at 1 nothing is (sensitivity 0, specificity 1, precision 0)."""
    y, p = np.array([1, 1, 0, 0], np.float32), np.array([0.9, 0.4, 0.6, 0.1], np.float32)

    def result(metric):
        metric.update_state(y, p)
        return metric.result()

    assert result(M.SensitivityAtSpecificity(0.5, num_thresholds=3)) == 0.5
    assert result(M.SensitivityAtSpecificity(0.0, num_thresholds=3)) == 1.0
    assert result(M.SpecificityAtSensitivity(0.5, num_thresholds=3)) == 0.5
    assert result(M.SpecificityAtSensitivity(1.0, num_thresholds=3)) == 0.0
    assert result(M.PrecisionAtRecall(0.5, num_thresholds=3)) == 0.5
    assert result(M.RecallAtPrecision(0.9, num_thresholds=3)) == 0.0  # no threshold reaches it


def test_correlations_worked_by_hand():
    y = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], np.float32)
    pearson = M.PearsonCorrelation()
    pearson.update_state(y, np.array([[2.0, 4.0, 6.0], [3.0, 2.0, 1.0]], np.float32))
    assert pearson.result() == pytest.approx(0.0, abs=1e-6)  # +1 and -1
    concordance = M.ConcordanceCorrelation()
    concordance.update_state(y, y)
    assert concordance.result() == pytest.approx(1.0, abs=1e-6)  # identical rows


@pytest.mark.parametrize("make, pattern", [
    (lambda: M.SensitivityAtSpecificity(1.5), "specificity"),
    (lambda: M.SpecificityAtSensitivity(-0.1), "sensitivity"),
    (lambda: M.PrecisionAtRecall(0.5, num_thresholds=0), "num_thresholds"),
    (lambda: M.RecallAtPrecision(0.5, class_id="1"), "class_id"),
    (lambda: M.PearsonCorrelation(axis=0), "axis"),
])
def test_bad_arguments_name_themselves(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_bad_inputs_name_the_metric():
    with pytest.raises(ValueError, match="PrecisionAtRecall.*shape"):
        M.PrecisionAtRecall(0.5).update_state(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="class_id, y_pred must be 2D"):
        M.RecallAtPrecision(0.5, class_id=0).update_state(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match="ConcordanceCorrelation.*shape"):
        M.ConcordanceCorrelation().update_state(np.zeros((4, 2)), np.zeros((4, 3)))
