"""``sn.Function`` (scratchnet/function.py): a graph of symbolic tensors called on arrays, in the
structures Keras allows, with Keras' checks."""

import numpy as np
import pytest

import scratchnet as sn

L = sn.layers


def _data(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def test_a_function_computes_what_the_model_of_the_same_graph_predicts():
    sn.utils.set_random_seed(0)
    a = sn.Input((3,), name="a")
    h = L.Dense(4, activation="relu", name="hidden")(a)
    out = L.Dense(2, name="out")(h)
    fn = sn.Function(a, out, name="head")
    model = sn.Model(a, out)
    (x,) = _data((5, 3))
    np.testing.assert_array_equal(fn(x), model.predict(x, verbose=0))
    assert fn.name == "head" and fn.inputs == [a] and fn.outputs == [out]
    assert [op.name for op in fn.operations] == ["a", "hidden", "out"]


def test_nested_structures_in_and_out():
    sn.utils.set_random_seed(1)
    a, b = sn.Input((3,), name="a"), sn.Input((3,), name="b")
    s = L.Add()([L.Dense(3)(a), b])
    t = sn.ops.sigmoid(s)
    fn = sn.Function(inputs={"a": a, "b": b}, outputs={"sum": s, "pair": [t, s * 2.0]})
    xa, xb = _data((4, 3), (4, 3))
    result = fn({"a": xa, "b": xb})
    assert set(result) == {"sum", "pair"} and isinstance(result["pair"], list)
    dense = next(op for op in fn.operations if isinstance(op, L.Dense))
    expected = xa @ dense.kernel.value + dense.bias.value + xb
    np.testing.assert_allclose(result["sum"], expected, rtol=1e-6)
    np.testing.assert_allclose(result["pair"][0], 1 / (1 + np.exp(-expected)), rtol=1e-6)
    np.testing.assert_allclose(result["pair"][1], 2 * expected, rtol=1e-6)


def test_an_input_in_the_middle_of_a_graph_starts_the_function_there():
    sn.utils.set_random_seed(2)
    a = sn.Input((3,))
    h = L.Dense(4, name="first")(a)
    out = L.Dense(2, name="second")(h)
    fn = sn.Function(h, out)
    assert [op.name for op in fn.operations] == ["second"]  # what made h is outside the graph
    (x,) = _data((3, 4))
    second = fn.operations[0]
    np.testing.assert_allclose(fn(x), x @ second.kernel.value + second.bias.value, rtol=1e-6)


def test_an_unused_input_still_belongs_to_the_function():
    a, b = sn.Input((2,), name="used"), sn.Input((2,), name="unused")
    fn = sn.Function([a, b], L.Dense(1, name="dense_out")(a))
    assert [op.name for op in fn.operations] == ["used", "unused", "dense_out"]  # Keras' order
    assert fn([np.ones((1, 2)), np.zeros((1, 2))]).shape == (1, 1)


def test_a_sibling_of_a_given_tensor_is_not_computable():
    """A layer with several outputs (LSTM's output and states) whose first output starts the
    Function: the others are outside the graph, whichever the walk meets first (Keras refuses
    both, parity_tests/test_function_scopes_remat_keras.py)."""
    x = sn.Input((5, 2), name="seq")
    out, state_h, _ = L.LSTM(3, return_state=True)(x)
    with pytest.raises(ValueError, match=r"Graph disconnected: cannot find parent for tensor .* at "
                                         r"operation 'add'"):
        sn.Function(out, L.Add()([out, state_h]))  # out met first: the LSTM node is outside
    with pytest.raises(ValueError, match=r'Graph disconnected.*Input "seq".*Function inputs'):
        sn.Function(out, L.Add()([state_h, out]))  # state_h met first: the walk reaches "seq"


def test_called_on_symbolic_tensors_it_joins_a_larger_graph():
    sn.utils.set_random_seed(3)
    a = sn.Input((3,))
    fn = sn.Function(a, L.Dense(2, name="inner")(a))
    c = sn.Input((3,))
    model = sn.Model(c, L.Dense(1)(fn(c)))
    (x,) = _data((2, 3))
    inner = model.get_layer("inner")
    assert inner is fn.operations[1]  # the same layer, weights shared
    assert model.predict(x, verbose=0).shape == (2, 1)


def test_bad_arguments_and_calls_are_refused():
    a = sn.Input((3,), name="x_in")
    out = L.Dense(2)(a)
    with pytest.raises(ValueError, match="`inputs` argument cannot be empty"):
        sn.Function([], out)
    with pytest.raises(ValueError, match="`outputs` argument cannot be empty"):
        sn.Function(a, [])
    with pytest.raises(ValueError, match="must be a KerasTensor"):
        sn.Function(np.ones((1, 3)), out)
    other = sn.Input((3,), name="other")
    with pytest.raises(ValueError, match="Graph disconnected"):
        sn.Function(other, L.Add()([L.Dense(3)(a), other]))
    fn = sn.Function(a, out)
    with pytest.raises(ValueError, match="invalid input structure"):
        fn([np.ones((1, 3)), np.ones((1, 3))])
    with pytest.raises(ValueError, match=r"For input 'x_in', expected shape \(None, 3\).*\(1, 4\)"):
        fn(np.ones((1, 4)))


def test_compute_output_spec_for_the_functions_own_shapes_gives_new_tensors():
    a, b = sn.Input((3,), name="a"), sn.Input((4,), name="b")
    s = L.Add()([L.Dense(4)(a), b])
    fn = sn.Function({"a": a, "b": b}, {"sum": s, "pair": [sn.ops.sigmoid(s), L.Dense(1)(s)]})
    spec = fn.compute_output_spec({"a": sn.KerasTensor((None, 3)), "b": sn.KerasTensor((None, 4))})
    assert set(spec) == {"sum", "pair"} and isinstance(spec["pair"], list)
    flat = [spec["sum"], *spec["pair"]]
    assert [t.shape for t in flat] == [(None, 4), (None, 4), (None, 1)]
    assert all(isinstance(t, sn.KerasTensor) and t.node is None for t in flat)  # no graph behind
    assert spec["sum"] is not s


def test_compute_output_spec_carries_a_batch_size_through_the_graph():
    x = sn.Input((5, 2), name="seq")
    out, state_h, state_c = L.LSTM(3, return_state=True)(x)
    fn = sn.Function(x, [L.Dense(1)(out), state_h, L.Concatenate()([state_h, state_c])])
    spec = fn.compute_output_spec(sn.KerasTensor((8, 5, 2)))
    assert [t.shape for t in spec] == [(8, 1), (8, 3), (8, 6)]
    assert [t.dtype for t in spec] == ["float32"] * 3
    assert fn.compute_output_shape((8, 5, 2)) == [(8, 1), (8, 3), (8, 6)]
    assert fn.compute_output_shape((None, 5, 2)) == [(None, 1), (None, 3), (None, 6)]
    with pytest.raises(ValueError, match=r"For input 'seq', expected shape \(None, 5, 2\).*\(8, 4, 2\)"):
        fn.compute_output_shape((8, 4, 2))


def test_compute_output_shape_takes_the_inputs_structure_and_dtypes():
    ids, extra = sn.Input((4,), dtype="int32", name="ids"), sn.Input((2,), name="extra")
    emb = L.Flatten()(L.Embedding(10, 3)(ids))
    fn = sn.Function({"ids": ids, "extra": extra}, L.Concatenate()([emb, extra]))
    assert fn.compute_output_shape({"ids": (6, 4), "extra": (6, 2)}) == (6, 14)
    assert fn.compute_output_shape({"ids": (6, 4), "extra": (None, 2)}) == (6, 14)  # 6: all agree
    with pytest.raises(ValueError, match="invalid input structure"):
        fn.compute_output_shape([(6, 4), (6, 2)])


def test_compute_output_spec_keeps_the_per_sample_shapes_the_layers_were_built_for():
    """A documented difference (docs/parity-notes.md): Keras would give (2, 7, 2)."""
    x = sn.Input((None, 3))
    fn = sn.Function(x, L.Dense(2)(x))
    assert fn.compute_output_spec(sn.KerasTensor((2, 7, 3))).shape == (2, None, 2)
