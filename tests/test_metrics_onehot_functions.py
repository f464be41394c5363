"""OneHotIoU, OneHotMeanIoU, the correlation functions and metrics.serialize/deserialize without
Keras: golden values, configs and errors. Keras parity:
parity_tests/test_metrics_onehot_functions_keras.py."""

import numpy as np
import pytest

import scratchnet as sn

M = sn.metrics


def test_one_hot_iou_golden_value():
    """Keras' docstring example, with float weights kept (dtype float32):
    cm = [[0, 0, 0.6], [0.3, 0, 0], [0, 0, 0.1]]; IoU of class 2 = 0.1 / 0.7, of class 0 = 0."""
    y = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0]])
    p = np.array([[0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.3, 0.1], [0.1, 0.4, 0.5]])
    w = np.array([0.1, 0.2, 0.3, 0.4])
    metric = M.OneHotIoU(num_classes=3, target_class_ids=[0, 2], dtype="float32")
    metric.update(y, p, sample_weight=w)
    np.testing.assert_allclose(metric.result(), (0 + 0.1 / 0.7) / 2, rtol=1e-5)
    mean = M.OneHotMeanIoU(num_classes=3, dtype="float32")
    mean.update(y, p, sample_weight=w)
    np.testing.assert_allclose(mean.result(), (0.1 / 0.7) / 3, rtol=1e-5)


def test_correlation_functions_golden_values():
    y = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(M.pearson_correlation(y, 2 * y + 1), [1.0], rtol=1e-6)
    np.testing.assert_allclose(M.pearson_correlation(y, -y), [-1.0], rtol=1e-6)
    # identical rows: 2 var / (2 var + eps) per element, averaged -> ~1
    np.testing.assert_allclose(M.concordance_correlation(y, y), [1.0], rtol=1e-6)


@pytest.mark.parametrize("metric", [M.OneHotIoU(4, [1, 3], ignore_class=0, axis=-1),
                                    M.OneHotMeanIoU(3, name="m", sparse_y_pred=True)],
                         ids=["iou", "mean_iou"])
def test_config_and_serialize_round_trip(metric):
    assert "sparse_y_true" not in metric.get_config()
    assert type(metric)(**metric.get_config()).get_config() == metric.get_config()
    spec = M.serialize(metric)
    assert spec["class_name"] == type(metric).__name__ and spec["module"] == "keras.metrics"
    assert M.deserialize(spec).get_config() == metric.get_config()


def test_deserialize_names_and_errors():
    assert M.deserialize("concordance_correlation") is M.concordance_correlation
    assert M.deserialize("OneHotMeanIoU") is M.OneHotMeanIoU
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        M.deserialize("nope")
    with pytest.raises(ValueError, match="custom_objects"):
        M.deserialize("mse", custom_objects={"f": len})
    with pytest.raises(ValueError, match="expected a scratchnet.metrics.Metric"):
        M.serialize(3)
    with pytest.raises(ValueError, match="not one scratchnet has"):
        M.deserialize({"class_name": "NoSuchMetric", "config": {}})


def test_bad_arguments():
    with pytest.raises(ValueError, match="OneHotIoU: expected num_classes"):
        M.OneHotIoU(0, [0])
    with pytest.raises(ValueError, match="OneHotIoU: target class id 3 is out of range"):
        M.OneHotIoU(3, [3])
    with pytest.raises(ValueError, match="OneHotMeanIoU: expected num_classes"):
        M.OneHotMeanIoU(num_classes="3")
    with pytest.raises(ValueError, match="needs arguments"):
        M.validate("OneHotIoU")
