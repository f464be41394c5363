import scratchnet as sn


def test_get_config_of_a_layer_built_with_an_initializer_dict():
    """A layer given scratchnet's earlier {"name", "config"} form writes Keras' form."""
    spec = {"name": "uniform", "config": {"minval": -0.1, "maxval": 0.2}}
    layer = sn.layers.Dense(3, kernel_initializer=spec)
    assert layer.get_config()["kernel_initializer"] == {
        "module": "keras.initializers", "class_name": "RandomUniform",
        "config": {"seed": None, "minval": -0.1, "maxval": 0.2}, "registered_name": None}
    twin = sn.layers.Dense(**layer.get_config())
    assert twin.get_config() == layer.get_config()
