"""The fix keras.io's "Writing your own callbacks" guide called for, in scratchnet alone
(parity_tests/test_guide_callbacks_keras.py runs the guide against Keras): reading
``optimizer.learning_rate`` gives the rate as Keras' float32 variable holds it."""

import numpy as np

import scratchnet as sn


def test_learning_rate_reads_as_a_floatx_scalar():
    optimizer = sn.optimizers.RMSprop(learning_rate=0.1)
    rate = optimizer.learning_rate
    assert rate.dtype == np.float32 and rate.shape == ()
    assert float(np.array(rate)) == 0.10000000149011612  # what the guide's callback prints
    assert optimizer.current_learning_rate() == 0.1  # the update computes with the float given
    optimizer.learning_rate = 0.005  # a callback sets a new one
    assert float(optimizer.learning_rate) == float(np.float32(0.005))


def test_learning_rate_under_a_schedule_reads_as_floatx_too():
    schedule = sn.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    optimizer = sn.optimizers.SGD(learning_rate=schedule)
    optimizer.iterations = 2
    assert optimizer.learning_rate.dtype == np.float32
    assert float(optimizer.learning_rate) == float(np.float32(0.025))


def test_learning_rate_follows_floatx():
    sn.config.set_floatx("float64")
    try:
        assert sn.optimizers.SGD(0.1).learning_rate.dtype == np.float64
    finally:
        sn.config.set_floatx("float32")
