"""``sn.config``'s Keras names (and ``sn.utils.Config`` and the logging toggles), without Keras:
what each returns, what it refuses, and that ``fit`` honours the epoch and step caps."""

import logging

import numpy as np
import pytest

import scratchnet as sn


def test_defaults_are_keras():
    c = sn.config
    assert c.epsilon() == 1e-7 and c.image_data_format() == "channels_last" and c.floatx() == "float32"
    assert c.max_epochs() is None and c.max_steps_per_epoch() is None
    assert c.is_interactive_logging_enabled() and c.is_traceback_filtering_enabled()
    assert c.is_flash_attention_enabled() is None and c.is_nnx_enabled() is False
    assert c.backend() == sn.get_backend()


def test_what_scratchnet_cannot_change_is_refused_with_the_reason():
    sn.config.set_image_data_format("channels_last")
    sn.config.set_epsilon(1e-7)
    with pytest.raises(ValueError, match="channels_first is not supported"):
        sn.config.set_image_data_format("channels_first")
    with pytest.raises(ValueError, match="epsilon"):
        sn.config.set_epsilon(1e-3)
    with pytest.raises(ValueError, match="no flash attention kernel"):
        sn.config.enable_flash_attention()
    with pytest.raises(ValueError, match="set_backend"):
        sn.config.set_backend("tensorflow")
    with pytest.raises(ValueError, match="positive int or None"):
        sn.config.set_max_epochs(0)


def _model():
    model = sn.Sequential([sn.Input((2,)), sn.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_fit_honours_the_epoch_and_step_caps():
    x, y = np.ones((40, 2), np.float32), np.ones((40, 1), np.float32)
    steps = []

    class Count(sn.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            steps.append(batch)
    try:
        sn.config.set_max_epochs(2)
        sn.config.set_max_steps_per_epoch(3)
        history = _model().fit(x, y, batch_size=4, epochs=5, verbose=0, callbacks=[Count()])
    finally:
        sn.config.set_max_epochs(None)
        sn.config.set_max_steps_per_epoch(None)
    assert len(history.history["loss"]) == 2 and len(steps) == 6  # as Keras' trainer test


def test_non_interactive_logging_goes_to_python_logging(caplog, capsys):
    x, y = np.ones((8, 2), np.float32), np.ones((8, 1), np.float32)
    sn.utils.disable_interactive_logging()
    try:
        assert not sn.utils.is_interactive_logging_enabled()
        with caplog.at_level(logging.INFO, logger="scratchnet"):
            _model().fit(x, y, epochs=2, verbose=1)
    finally:
        sn.utils.enable_interactive_logging()
    assert [r.getMessage()[:9] for r in caplog.records] == ["Epoch 1/2", "Epoch 2/2"]
    assert "Epoch" not in capsys.readouterr().out


def test_utils_config_is_a_freezable_attribute_dict():
    config = sn.utils.Config(learning_rate=0.1)
    config.units = 4
    config["depth"] = 2
    assert config.learning_rate == 0.1 and config["units"] == 4 and len(config) == 3 and "depth" in config
    assert config.to_json() == '{"learning_rate": 0.1, "units": 4, "depth": 2}'
    config.freeze()
    with pytest.raises(ValueError, match="frozen"):
        config.units = 5
    with pytest.raises(AttributeError, match="Unknown attribute"):
        _ = config.missing
    config.unfreeze()
    config.update(units=8)
    assert config.as_dict()["units"] == 8
