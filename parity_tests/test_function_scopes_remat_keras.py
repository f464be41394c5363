"""``sn.Function``, ``sn.StatelessScope`` / ``stateless_call`` and ``sn.RematScope`` / ``sn.remat``
against Keras 3.15's ``keras.Function``, ``keras.StatelessScope`` / ``Layer.stateless_call`` and
``keras.RematScope`` / ``keras.remat`` (TensorFlow backend: ``tf.recompute_grad``), with the same
weights on both sides. Tolerances (driver.py): outputs FORWARD_RTOL, gradients GRAD_RTOL."""

import keras
import numpy as np
from keras import ops

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, assert_close

L = sn.layers


def _data(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


# ---------------------------------------------------------------------- keras.Function
def test_function_with_nested_outputs_computes_what_keras_function_computes():
    a, b = sn.Input((3,), name="a"), sn.Input((4,), name="b")
    h = L.Dense(4, activation="relu", name="left")(a)
    s = L.Add(name="join")([h, L.Dense(4, name="right")(b)])
    fn = sn.Function(inputs=[a, b], outputs={"sum": s, "squashed": sn.ops.sigmoid(s)})

    ka, kb = keras.Input((3,), name="a"), keras.Input((4,), name="b")
    kleft, kright = keras.layers.Dense(4, activation="relu", name="left"), keras.layers.Dense(4, name="right")
    ks = keras.layers.Add(name="join")([kleft(ka), kright(kb)])
    kfn = keras.Function(inputs=[ka, kb], outputs={"sum": ks, "squashed": ops.sigmoid(ks)})
    by_name = {op.name: op for op in fn.operations}
    kleft.set_weights(by_name["left"].get_weights())
    kright.set_weights(by_name["right"].get_weights())

    xa, xb = _data((5, 3), (5, 4))
    got, want = fn([xa, xb]), kfn([xa, xb])
    assert set(got) == set(want) == {"sum", "squashed"}
    for key in got:
        assert_close(got[key], keras.ops.convert_to_numpy(want[key]), FORWARD_RTOL, key)


def test_function_operations_and_a_middle_input_as_keras():
    def graph(lib):
        a = lib.Input((3,), name="start")
        unused = lib.Input((2,), name="spare")
        h = lib.layers.Dense(5, name="d1")(a)
        out = lib.layers.Dense(2, name="d2")(lib.layers.Dense(5, name="d3")(h))
        return a, unused, h, out

    a, unused, h, out = graph(sn)
    ka, kunused, kh, kout = graph(keras)
    fn, kfn = sn.Function([a, unused], out), keras.Function([ka, kunused], kout)
    assert [op.name for op in fn.operations] == [op.name for op in kfn.operations]
    middle, kmiddle = sn.Function(h, out), keras.Function(kh, kout)
    assert [op.name for op in middle.operations] == [op.name for op in kmiddle.operations]
    for op, kop in zip(middle.operations, kmiddle.operations, strict=True):
        kop.set_weights(op.get_weights())
    (x,) = _data((4, 5))
    assert_close(middle(x), keras.ops.convert_to_numpy(kmiddle(x)), FORWARD_RTOL, "from the middle")


def test_unused_inputs_are_ordered_as_keras_in_a_function_and_a_model():
    """Two given Inputs no output depends on come in the order given, at the outputs' depth
    (Keras' map_graph); scratchnet listed them reversed."""
    def graph(lib):
        spare_1, a, spare_2 = (lib.Input(s, name=n) for s, n in
                               (((2,), "spare_1"), ((3,), "start"), ((2,), "spare_2")))
        out = lib.layers.Dense(2, name="d2")(lib.layers.Dense(5, name="d1")(a))
        return [spare_1, a, spare_2], out

    inputs, out = graph(sn)
    kinputs, kout = graph(keras)
    ours = [[op.name for op in sn.Function(inputs, out).operations],
            [layer.name for layer in sn.Model(inputs, out).layers]]
    theirs = [[op.name for op in keras.Function(kinputs, kout).operations],
              [layer.name for layer in keras.Model(kinputs, kout).layers]]
    assert ours == theirs == [["start", "d1", "spare_1", "spare_2", "d2"]] * 2


def test_function_compute_output_spec_and_shape_as_keras():
    def graph(lib):
        ids, extra = lib.Input((4,), dtype="int32", name="ids"), lib.Input((2,), name="extra")
        seq = lib.layers.Embedding(10, 3, name="emb")(ids)
        out, state_h, _ = lib.layers.LSTM(3, return_state=True, name="lstm")(seq)
        joined = lib.layers.Concatenate(name="join")([lib.layers.Flatten(name="flat")(seq), extra])
        added = lib.layers.Add(name="add")([state_h, lib.layers.Dense(3, name="proj")(extra)])
        outputs = {"joined": joined, "pair": [lib.ops.sigmoid(added), out]}
        return lib.Function({"ids": ids, "extra": extra}, outputs)

    fn, kfn = graph(sn), graph(keras)
    for ids_shape, extra_shape in [((None, 4), (None, 2)), ((6, 4), (6, 2)), ((6, 4), (None, 2)),
                                   ((None, 4), (5, 2))]:
        specs = [{"ids": lib.KerasTensor(ids_shape, dtype="int32"), "extra": lib.KerasTensor(extra_shape)}
                 for lib in (sn, keras)]
        ours, theirs = fn.compute_output_spec(specs[0]), kfn.compute_output_spec(specs[1])
        assert set(ours) == set(theirs) and len(ours["pair"]) == len(theirs["pair"]) == 2
        for t, kt in zip(sn.tree.flatten(ours), keras.tree.flatten(theirs), strict=True):
            assert (t.shape, t.dtype) == (kt.shape, kt.dtype), (ids_shape, extra_shape)
        shapes = {"ids": ids_shape, "extra": extra_shape}
        assert fn.compute_output_shape(shapes) == kfn.compute_output_shape(shapes)


# ---------------------------------------------------------------------- StatelessScope
def test_a_layer_in_a_stateless_scope_computes_with_the_mapped_weights_as_keras():
    (x,) = _data((4, 5))
    layer, klayer = L.Dense(3, activation="tanh"), keras.layers.Dense(3, activation="tanh")
    layer(x)
    klayer(x)
    kernel, bias = _data((5, 3), (3,), seed=1)
    with sn.StatelessScope([(layer.kernel, kernel), (layer.bias, bias)]):
        y = layer(x)
    with keras.StatelessScope([(klayer.kernel, kernel), (klayer.bias, bias)]):
        ky = klayer(x)
    assert_close(y, keras.ops.convert_to_numpy(ky), FORWARD_RTOL, "output")
    counter, kcounter = sn.Variable(np.zeros(3, np.float32)), keras.Variable(np.zeros(3, np.float32))
    with sn.StatelessScope() as scope:
        counter.assign_add(np.ones(3))
    with keras.StatelessScope() as kscope:
        kcounter.assign_add(np.ones(3))
    assigned = keras.ops.convert_to_numpy(kscope.get_current_value(kcounter))
    assert_close(scope.get_current_value(counter), assigned, FORWARD_RTOL, "assigned")
    assert_close(counter.numpy(), kcounter.numpy(), FORWARD_RTOL, "variable unchanged")


def test_stateless_call_of_batch_normalization_in_training_as_keras():
    (x,) = _data((16, 3))
    x = x * 3 + 2
    layer, klayer = L.BatchNormalization(), keras.layers.BatchNormalization()
    layer(x)
    klayer(x)
    trainable = _data((3,), (3,), seed=2)
    non_trainable = [np.full(3, 0.5, np.float32), np.full(3, 2.0, np.float32)]
    y, state = layer.stateless_call(trainable, non_trainable, x, training=True)
    ky, kstate = klayer.stateless_call(trainable, non_trainable, x, training=True)
    assert_close(y, keras.ops.convert_to_numpy(ky), FORWARD_RTOL, "output")
    for new, knew in zip(state, kstate, strict=True):
        assert_close(new, keras.ops.convert_to_numpy(knew), FORWARD_RTOL, "moving statistics")
    for w, kw in zip(layer.get_weights(), klayer.get_weights(), strict=True):
        assert_close(w, kw, FORWARD_RTOL, "weights untouched")


# ---------------------------------------------------------------------- remat
def _remat_models(mode):
    def graph(lib):
        with lib.RematScope(mode=mode):
            a = lib.Input((6,))
            h = lib.layers.Dense(16, activation="tanh", name="h1")(a)
            h = lib.layers.Dense(16, activation="relu", name="h2")(h)
            out = lib.layers.Dense(3, activation="softmax", name="out")(h)
        return lib.Model(a, out)

    model, kmodel = graph(sn), graph(keras)
    kmodel.set_weights(model.get_weights())
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    kmodel.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model, kmodel


def test_remat_scope_gives_keras_loss_and_gradients():
    (x,) = _data((12, 6))
    y = np.arange(12) % 3
    for mode in ("full", "larger_than"):
        model, kmodel = _remat_models(mode)
        loss, grads = model.loss_and_grads(x, y)
        kloss, kgrads = tfnet.loss_and_grads(kmodel, x, y)
        assert_close(loss, kloss, FORWARD_RTOL, f"{mode}: loss")
        for g, kg in zip(grads, kgrads, strict=True):
            assert_close(g, kg, GRAD_RTOL, f"{mode}: gradient")


def test_remat_of_a_lambda_function_gives_keras_gradients():
    def block(x):
        for _ in range(2):
            x = x + x * 0.1
        return sn.ops.tanh(x) * x

    def kblock(x):
        for _ in range(2):
            x = x + x * 0.1
        return ops.tanh(x) * x

    model = sn.Sequential([L.Input((4,)), L.Dense(5), L.Lambda(sn.remat(block)), L.Dense(2)], seed=1)
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5),
                               keras.layers.Lambda(keras.remat(kblock)), keras.layers.Dense(2)])
    kmodel.set_weights(model.get_weights())
    model.compile(optimizer="sgd", loss="mse")
    kmodel.compile(optimizer="sgd", loss="mse")
    x, y = _data((8, 4), (8, 2))
    loss, grads = model.loss_and_grads(x, y)
    kloss, kgrads = tfnet.loss_and_grads(kmodel, x, y)
    assert_close(loss, kloss, FORWARD_RTOL, "loss")
    for g, kg in zip(grads, kgrads, strict=True):
        assert_close(g, kg, GRAD_RTOL, "gradient")


# ---------------------------------------------------------------------- keras.Operation
def _swish_class(base, ops_module):
    class Swish(base):
        def __init__(self, beta=1.0, name=None):
            super().__init__(name=name)
            self.beta = beta

        def call(self, x):
            return x * ops_module.sigmoid(self.beta * x)

    return Swish


def test_an_operation_subclass_in_a_model_gives_keras_outputs_and_gradients():
    swish, kswish = _swish_class(sn.Operation, sn.ops), _swish_class(keras.Operation, ops)
    a = sn.Input((4,))
    model = sn.Model(a, L.Dense(2)(swish(1.5, name="swish")(L.Dense(5)(a))))
    ka = keras.Input((4,))
    kmodel = keras.Model(ka, keras.layers.Dense(2)(kswish(1.5, name="swish")(keras.layers.Dense(5)(ka))))
    kmodel.set_weights(model.get_weights())
    assert [type(op).__name__ for op in model.operations] == [type(op).__name__ for op in kmodel.operations]
    model.compile(optimizer="sgd", loss="mse")
    kmodel.compile(optimizer="sgd", loss="mse")
    x, y = _data((6, 4), (6, 2))
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "predict")
    loss, grads = model.loss_and_grads(x, y)
    kloss, kgrads = tfnet.loss_and_grads(kmodel, x, y)
    assert_close(loss, kloss, FORWARD_RTOL, "loss")
    for g, kg in zip(grads, kgrads, strict=True):
        assert_close(g, kg, GRAD_RTOL, "gradient")
    eager = np.linspace(-3, 3, 8, dtype=np.float32).reshape(2, 4)
    assert_close(swish(1.5)(eager), keras.ops.convert_to_numpy(kswish(1.5)(eager)), FORWARD_RTOL, "eager")


def test_the_names_are_where_keras_has_them():
    for name in ("Function", "Operation", "StatelessScope", "SymbolicScope", "remat", "RematScope"):
        assert hasattr(keras, name) and name in sn.__all__ and getattr(sn, name) is not None
    with sn.RematScope(mode="list_of_layers", layer_names=["a"]) as scope, \
            keras.RematScope(mode="list_of_layers", layer_names=["a"]) as kscope:
        assert (scope.mode, scope.output_size_threshold, scope.layer_names) == \
            (kscope.mode, kscope.output_size_threshold, kscope.layer_names)
