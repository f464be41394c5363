"""Files that earlier scratchnet wrote still load, after initializers (and losses) moved to Keras'
serialized form.

``OLD_NPZ_CONFIG`` is the ``config`` entry of an ``.npz`` file written by scratchnet at commit
1b7626c (before the change), byte for byte: its initializers are ``{"name": "random_normal",
"config": {...}}`` and its loss ``{"name": "categorical_crossentropy", "config": {...}}``. The
test writes that file around fresh weights and loads it."""

import numpy as np

import scratchnet as sn
from scratchnet import saving

OLD_NPZ_CONFIG = (
    '{"name": "old", "seed": 0, "input_shape": [4], "layers": [{"class_name": "Dense", "config": '
    '{"name": "dense", "activation": "linear", "units": 3, "use_bias": true, "kernel_initializer": '
    '{"name": "random_normal", "config": {"mean": 0.5, "stddev": 0.01}}, "bias_initializer": '
    '{"name": "constant", "config": {"value": 0.25}}}}, {"class_name": "Dense", "config": {"name": '
    '"out", "activation": "linear", "units": 2, "use_bias": true, "kernel_initializer": {"name": '
    '"variance_scaling", "config": {"scale": 2.0, "mode": "fan_out", "distribution": "uniform", '
    '"input_axes": null, "output_axes": null}}, "bias_initializer": "zeros"}}], "compile": {"loss": '
    '{"name": "categorical_crossentropy", "config": {"from_logits": true, "label_smoothing": 0.1}}, '
    '"optimizer": {"module": "keras.optimizers", "class_name": "Adam", "config": {"name": "adam", '
    '"learning_rate": 0.01, "weight_decay": null, "clipnorm": null, "global_clipnorm": null, '
    '"clipvalue": null, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": false}, '
    '"registered_name": null}, "metrics": [], "weighted_metrics": []}}'
)


def test_an_npz_file_of_the_older_forms_loads(tmp_path):
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(shape).astype("f4") for shape in ((4, 3), (3,), (3, 2), (2,))]
    path = tmp_path / "old.npz"
    np.savez(path, format_version=np.array(saving.FORMAT_VERSION), config=np.array(OLD_NPZ_CONFIG),
             optimizer_iterations=np.array(0),
             **{f"weight_{i}": w for i, w in enumerate(weights)})
    model = sn.load_model(path)
    for w, loaded in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(w, loaded)
    dense, out = model.layers
    kernel = sn.initializers.get(dense.get_config()["kernel_initializer"])
    assert type(kernel) is sn.initializers.RandomNormal and (kernel.mean, kernel.stddev) == (0.5, 0.01)
    bias = sn.initializers.get(dense.get_config()["bias_initializer"])
    assert type(bias) is sn.initializers.Constant and bias.get_config() == {"value": 0.25}
    scaling = sn.initializers.get(out.get_config()["kernel_initializer"])
    assert (scaling.scale, scaling.mode, scaling.distribution) == (2.0, "fan_out", "uniform")
    loss = model.loss
    assert type(loss) is sn.losses.CategoricalCrossentropy
    assert loss.get_config()["from_logits"] is True and loss.get_config()["label_smoothing"] == 0.1
    assert type(model.optimizer) is sn.optimizers.Adam
    # and it saves again, in Keras' forms, and loads back the same
    model.save(tmp_path / "again.npz")
    again = sn.load_model(tmp_path / "again.npz")
    assert again.layers[0].get_config() == dense.get_config()
    assert again.loss.get_config() == loss.get_config()
