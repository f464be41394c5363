"""``summary()`` rows Keras prints that scratchnet once did not: a Sequential given no input shape
yet (``?`` and ``0 (unbuilt)``, Keras' ``summary_utils``), and a layer with several outputs
(``LSTM(return_state=True)``), whose row lists each output's shape."""

import numpy as np
import pytest

import scratchnet as sn

L = sn.layers


def test_an_unbuilt_sequential_lists_its_layers():
    model = sn.Sequential([L.Embedding(10, 4, name="emb"), L.LSTM(3, name="rnn")], name="m")
    text = model.summary(print_fn=None)
    assert text.splitlines()[0] == 'Model: "m"'
    assert [line.split() for line in text.splitlines() if line.startswith(("emb", "rnn"))] == \
        [["emb", "(Embedding)", "?", "0", "(unbuilt)"], ["rnn", "(LSTM)", "?", "0", "(unbuilt)"]]
    assert text.splitlines()[-3:] == ["Total params: 0", "Trainable params: 0", "Non-trainable params: 0"]


def test_an_empty_or_ranged_unbuilt_summary_still_asks_for_a_build():
    with pytest.raises(ValueError, match="is not built yet"):
        sn.Sequential().summary()
    with pytest.raises(ValueError, match="is not built yet"):
        sn.Sequential([L.Dense(2, name="d")]).summary(layer_range=["d", "d"])


def test_a_layer_with_several_outputs_lists_each_shape():
    inputs = sn.Input((5, 2), name="steps")
    outputs = L.LSTM(4, return_state=True, name="enc")(inputs)
    text = sn.Model(inputs, outputs).summary(print_fn=None)
    row = next(line for line in text.splitlines() if line.startswith("enc"))
    assert row.split("  ")[0] == "enc (LSTM)"
    assert [cell.strip() for cell in row.split("  ") if cell.strip()][1:] == \
        ["[(None, 4), (None, 4), (None, 4)]", "112", "steps[0][0]"]


def test_after_the_first_update_the_optimizers_variables_join_the_total():
    model = sn.Sequential([sn.Input((3,)), L.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    assert "Optimizer params" not in model.summary(print_fn=None)  # not built before an update
    model.fit(np.zeros((4, 3), "float32"), np.zeros((4, 2), "float32"), verbose=0)
    # Keras' summary_utils: iterations + learning rate + m and v of kernel (6) and bias (2)
    assert model.summary(print_fn=None).splitlines()[-4:] == [
        "Total params: 26", "Trainable params: 8", "Non-trainable params: 0", "Optimizer params: 18"]
