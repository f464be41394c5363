"""to_keras / from_keras know the second half's layers: Embedding, lookups, PoincareNormalize."""

import numpy as np

import scratchnet as sn
import tfnet

L = sn.layers


def test_embedding_and_poincare_round_trip_through_keras():
    model = sn.Sequential([L.Input((4,)), L.Embedding(10, 3), L.Flatten(),
                           sn.addons.PoincareNormalize(axis=1), L.Dense(2)], seed=0)
    kmodel = tfnet.to_keras(model)
    ids = np.array([[1, 2, 3, 9], [0, 0, 5, 4]])
    np.testing.assert_allclose(kmodel.predict(ids, verbose=0), model.predict(ids), rtol=1e-5)
    back = tfnet.from_keras(kmodel)
    assert [type(layer) for layer in back.layers] == [type(layer) for layer in model.layers]
    for a, b in zip(back.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_string_lookup_model_takes_string_input_in_keras():
    lookup = L.StringLookup(vocabulary=["a", "b", "c"])
    model = sn.Sequential([L.Input((2,)), lookup, L.Embedding(4, 2), L.Flatten(), L.Dense(1)],
                          seed=0)
    kmodel = tfnet.to_keras(model)
    assert kmodel.inputs[0].dtype == "string"
    x = np.array([["a", "z"], ["c", "b"]])
    import tensorflow as tf

    np.testing.assert_allclose(kmodel(tf.constant(x)).numpy(), model.predict(x), rtol=1e-5)
