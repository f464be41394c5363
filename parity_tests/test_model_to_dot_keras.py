"""``sn.utils.model_to_dot`` against ``keras.utils.model_to_dot`` (Keras 3.15.1), and
``plot_model(show_trainable=True)`` against Keras' label rule.

Both libraries build their graphs with the real ``pydot`` (a ``dev`` extra), and the graphs are
compared as the DOT text pydot writes (``to_string()``: every node with its HTML label and
attributes, every edge, the graph's attributes, in the order they were added). Both name a node
``str(id(layer))``, a memory address that differs between the two models (and between runs), so
each id is replaced by its layer's name before the texts are compared. Nothing is rendered
(``create_png`` and the like need Graphviz' ``dot`` program, which is not installed here). Without
pydot both libraries raise the same ``ImportError`` (the module hidden through ``sys.modules``)."""

import re
import sys

import keras
import pydot
import pytest
from keras.src.utils import model_visualization as keras_visualization

import scratchnet as sn


def _model(lib):
    """Two inputs, a frozen Dense, Dropout, BatchNormalization, a shared layer and an Add."""
    L = lib.layers
    a = L.Input((4,), name="a")
    b = L.Input((4,), name="b")
    frozen = L.Dense(4, activation="relu", name="frozen")
    frozen.trainable = False
    shared = L.Dense(3, name="shared")
    h = L.Dropout(0.5, name="drop")(frozen(a))
    joined = L.Add(name="join")([shared(h), shared(b)])
    out = L.Dense(2, activation="softmax", name="out")(L.BatchNormalization(name="bn")(joined))
    return lib.Model([a, b], out, name="graph")


def _sequential(lib):
    L = lib.layers
    return lib.Sequential([L.Input((5,)), L.Dense(3, name="d1"), L.Activation("tanh", name="act"),
                           L.Dense(1, name="d2")], name="seq")


def _dot_text(dot, model) -> str:
    """pydot's DOT text of ``dot`` with each node id (``str(id(layer))``) replaced by the layer's
    name; asserts that every id was one of the model's layers (or the model itself)."""
    layers = list(model.layers) + list(getattr(model, "operations", []))
    names = {str(id(layer)): layer.name for layer in layers}
    names[str(id(model))] = model.name
    ids = {node.get_name() for node in dot.get_nodes()} - {"node"}  # ("node": set_node_defaults)
    ids |= {end for edge in dot.get_edges() for end in (edge.get_source(), edge.get_destination())}
    assert ids <= names.keys(), ids - names.keys()
    return re.sub(r"\b\d+\b", lambda number: names.get(number.group(0), number.group(0)), dot.to_string())


@pytest.mark.parametrize("make", [_model, _sequential], ids=["functional", "sequential"])
@pytest.mark.parametrize("options", [
    {},
    {"show_shapes": True, "show_dtype": True, "show_layer_activations": True, "show_trainable": True,
     "rankdir": "LR", "dpi": 96, "splines": "line"},
    {"show_layer_names": False, "show_trainable": True, "subgraph": True},
], ids=["defaults", "everything", "subgraph"])
def test_model_to_dot_builds_keras_graph(make, options):
    keras.backend.clear_session()
    kmodel, model = make(keras), make(sn)
    kdot, dot = keras.utils.model_to_dot(kmodel, **options), sn.utils.model_to_dot(model, **options)
    graph_class = pydot.Cluster if options.get("subgraph") else pydot.Dot
    assert type(dot) is type(kdot) is graph_class
    expected = _dot_text(kdot, kmodel)
    assert _dot_text(dot, model) == expected
    assert len(dot.get_nodes()) >= 3 and len(dot.get_edges()) >= 2


def test_model_to_dot_errors_as_keras():
    for lib in (keras, sn):
        with pytest.raises(ValueError, match="Argument `layer_range` is no longer supported"):
            lib.utils.model_to_dot(_sequential(lib), layer_range=["d1", "d2"])
        with pytest.raises(ValueError, match="Unrecognized keyword arguments: {'colour': 1}"):
            lib.utils.model_to_dot(_sequential(lib), colour=1)
        unbuilt = lib.Sequential([lib.layers.Dense(2)])
        with pytest.raises(ValueError, match="This model has not yet been built"):
            lib.utils.model_to_dot(unbuilt)


def test_without_pydot_both_raise_keras_import_error(monkeypatch):
    monkeypatch.setattr(keras_visualization, "pydot", None)
    for name in ("pydot", "pydot_ng", "pydotplus"):
        monkeypatch.setitem(sys.modules, name, None)  # (import of a None entry: ImportError)
    messages = []
    for lib in (keras, sn):
        with pytest.raises(ImportError) as caught:
            lib.utils.model_to_dot(_sequential(lib))
        messages.append(str(caught.value))
    assert messages[0] == messages[1] == ("You must install pydot (`pip install pydot`) for "
                                          "model_to_dot to work.")


def test_plot_model_show_trainable_follows_each_layers_flag(tmp_path):
    """``show_trainable``: "Trainable"/"Non-trainable" by the layer's flag, only for layers with
    weights (Keras' ``make_layer_label``); the PNG is drawn."""
    from scratchnet.utils.model_visualization import _label

    keras.backend.clear_session()
    kmodel, model = _model(keras), _model(sn)
    marks = {}
    for lib_model, lib in ((kmodel, "keras"), (model, "scratchnet")):
        for layer in lib_model.layers:
            if lib == "keras":
                text = keras_visualization.make_layer_label(
                    layer, show_layer_names=True, show_layer_activations=False, show_dtype=False,
                    show_shapes=False, show_trainable=True)
            else:
                text = _label(layer, False, False, True, False, True)
            mark = next((m for m in ("Non-trainable", "Trainable") if m in text), None)
            marks.setdefault(layer.name, []).append(mark)
    assert marks["frozen"] == ["Non-trainable"] * 2 and marks["shared"] == ["Trainable"] * 2
    assert marks["drop"] == [None, None]
    assert all(keras_mark == mark for keras_mark, mark in marks.values()), marks
    sn.utils.plot_model(model, tmp_path / "m.png", show_trainable=True)
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
