import numpy as np
import pytest

import scratchnet as sn


@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_crossentropy_after_a_final_sigmoid_reads_its_logits_like_keras(activation):
    """Keras tags sigmoid outputs with their logits as it does softmax outputs, and the
    cross-entropies then compute softmax cross-entropy on those logits: Keras 3.15 evaluates
    this model and batch to 33.500458 (logsumexp(z) - z_y, averaged), not a clipped log."""
    model = sn.Sequential([sn.layers.Input((3,)),
                           sn.layers.Dense(3, activation=activation, use_bias=False)], seed=0)
    model.set_weights([np.diag([30.0, 1.0, -30.0]).astype(np.float32)])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.array([[1.0, 0.5, 1.0], [0.2, -1.0, 0.3]], dtype=np.float32)
    assert model.evaluate(x, np.array([2, 1]), verbose=0) == pytest.approx(33.500458, rel=1e-6)
