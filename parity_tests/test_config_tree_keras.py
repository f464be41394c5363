"""``sn.config``, ``sn.utils.Config`` and ``sn.tree`` against Keras 3: the names Keras has, their
argument names, their defaults, and the structures ``tree`` functions return."""

import collections
import inspect

import keras
import numpy as np
import pytest

import scratchnet as sn

NOT_DONE = set()


def test_config_has_keras_names():
    theirs = {n for n in dir(keras.config) if not n.startswith("_")}
    assert theirs - NOT_DONE <= set(dir(sn.config))


@pytest.mark.parametrize("name", sorted({n for n in dir(keras.config) if not n.startswith("_")} - NOT_DONE))
def test_config_argument_names_are_keras(name):
    def params(f):
        return [p.name for p in inspect.signature(f).parameters.values()]
    assert params(getattr(sn.config, name)) == params(getattr(keras.config, name))


def test_config_defaults_equal_keras():
    for name in ("epsilon", "image_data_format", "floatx", "max_epochs", "max_steps_per_epoch",
                 "is_interactive_logging_enabled", "is_traceback_filtering_enabled",
                 "is_flash_attention_enabled", "is_nnx_enabled"):
        assert getattr(sn.config, name)() == getattr(keras.config, name)(), name


def test_dtype_policy_is_keras_default_and_other_policies_are_refused():
    ours, theirs = sn.config.dtype_policy(), keras.config.dtype_policy()
    assert (repr(ours), ours.name, ours.compute_dtype, ours.variable_dtype, ours.quantization_mode,
            ours.get_config()) == (repr(theirs), theirs.name, theirs.compute_dtype, theirs.variable_dtype,
                                   theirs.quantization_mode, theirs.get_config())
    sn.config.set_dtype_policy("float32")
    sn.config.set_dtype_policy(keras.DTypePolicy("float32"))
    with pytest.raises(ValueError, match="'mixed_float16' .* is not supported"):
        sn.config.set_dtype_policy("mixed_float16")
    for module in (sn.config, keras.config):
        with pytest.raises(ValueError, match="Invalid `policy` argument"):
            module.set_dtype_policy(3)


def test_utils_config_behaves_as_keras():
    ours, theirs = sn.utils.Config(a=1), keras.utils.Config(a=1)
    for c in (ours, theirs):
        c.b = 2
        c["c"] = [3]
    assert ours.to_json() == theirs.to_json() and ours.as_dict() == theirs.as_dict()
    ours.freeze()
    theirs.freeze()
    for c in (ours, theirs):
        with pytest.raises(ValueError, match="frozen"):
            c.a = 0
    assert {n for n in dir(theirs) if not n.startswith("_")} <= set(dir(ours))


Point = collections.namedtuple("Point", "x y")
STRUCTURES = [
    {"b": [1, None], "a": (2, {"z": 3, "y": 4})},
    [1, (2, [3, {"k": 4}])],
    Point(1, (2, 3)),
    collections.OrderedDict([("b", 1), ("a", [2, 3])]),
    None,
    7,
    [],
]


@pytest.mark.parametrize("structure", STRUCTURES, ids=range(len(STRUCTURES)))
def test_tree_functions_equal_keras(structure):
    for name in ("flatten", "flatten_with_path", "is_nested", "lists_to_tuples"):
        assert getattr(sn.tree, name)(structure) == getattr(keras.tree, name)(structure), name
    leaves = [f"leaf{i}" for i in range(len(keras.tree.flatten(structure)))]
    assert sn.tree.pack_sequence_as(structure, leaves) == keras.tree.pack_sequence_as(structure, leaves)
    def double(v):
        return v * 2 if isinstance(v, int) else v
    assert sn.tree.map_structure(double, structure) == keras.tree.map_structure(double, structure)
    seen_ours, seen_theirs = [], []
    sn.tree.traverse(seen_ours.append, structure, top_down=False)
    keras.tree.traverse(seen_theirs.append, structure, top_down=False)
    assert seen_ours == seen_theirs


def test_tree_map_shape_structure_and_up_to_equal_keras():
    shapes = {"a": (2, 3), "b": [(1,), (None, 4)]}
    assert sn.tree.map_shape_structure(len, shapes) == keras.tree.map_shape_structure(len, shapes)
    # (shallow structures of 0s: Keras 3.15's optree version treats a None there as a node, so its
    # own docstring example with None fails)
    for args in ([[0, [0, 0]], str, [[1, 1], [2, 2]]], [[0, 0], len, [[1, 1], [2, 2, 2]]],
                 [{"a": 0, "b": (0,)}, lambda a, b: (a, b), {"a": [1], "b": (2,)}, {"a": [3], "b": (4,)}]):
        assert sn.tree.map_structure_up_to(*args) == keras.tree.map_structure_up_to(*args)
    for module in (sn.tree, keras.tree):
        with pytest.raises(ValueError):
            module.assert_same_structure([1, 2], [1, [2]])
        module.assert_same_paths(Point(0, 1), (2, 3))


def test_tree_carries_arrays_through_scan_as_keras():
    init = {"sum": np.zeros(2, np.float32), "count": np.float32(0)}
    xs = np.arange(6, dtype=np.float32).reshape(3, 2)

    def step(o):
        return lambda c, x: ({"sum": c["sum"] + x, "count": c["count"] + 1.0},
                             {"sum": c["sum"], "count": c["count"]})
    ours, theirs = sn.ops.scan(step(sn.ops), init, xs), keras.ops.scan(step(keras.ops), init, xs)
    for a, b in zip(sn.tree.flatten(ours), keras.tree.flatten(theirs), strict=True):
        np.testing.assert_array_equal(np.asarray(a), keras.ops.convert_to_numpy(b))


def test_the_step_cap_limits_evaluate_and_predict_as_in_keras():
    """keras.config.set_max_steps_per_epoch caps every epoch iterator: fit's, evaluate's and
    predict's (predict then returns the capped batches' rows only)."""
    x = np.arange(40, dtype=np.float32).reshape(20, 2) / 40
    y = x.sum(axis=1, keepdims=True)
    model = sn.Sequential([sn.layers.Input((2,)), sn.layers.Dense(1)], seed=0)
    kmodel = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    kmodel.set_weights(model.get_weights())
    model.compile(optimizer="sgd", loss="mse")
    kmodel.compile(optimizer="sgd", loss="mse")
    try:
        sn.config.set_max_steps_per_epoch(2)
        keras.config.set_max_steps_per_epoch(2)
        ours, theirs = model.predict(x, batch_size=4, verbose=0), kmodel.predict(x, batch_size=4, verbose=0)
        assert ours.shape == theirs.shape == (8, 1)
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)
        np.testing.assert_allclose(model.evaluate(x, y, batch_size=4, verbose=0),
                                   kmodel.evaluate(x, y, batch_size=4, verbose=0), rtol=1e-6)
    finally:
        sn.config.set_max_steps_per_epoch(None)
        keras.config.set_max_steps_per_epoch(None)
    assert model.predict(x, batch_size=4, verbose=0).shape == (20, 1)
