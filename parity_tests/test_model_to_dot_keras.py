"""``sn.utils.model_to_dot`` against ``keras.utils.model_to_dot`` (Keras 3.15.1), and
``plot_model(show_trainable=True)`` against Keras' label rule.

pydot is not a scratchnet dependency (nor installed here): without it both libraries raise the
same ``ImportError``. The graphs themselves are compared through a small stand-in for pydot that
records what each library builds (the nodes with their HTML labels, the edges, the graph's
attributes), put in place of Keras' module-level ``pydot`` and of the import scratchnet makes."""

import sys
import types

import keras
import pytest
from keras.src.utils import model_visualization as keras_visualization

import scratchnet as sn


class _Graph:
    """What pydot's ``Dot``/``Cluster`` record here: attributes, nodes, edges."""

    def __init__(self, **attrs):
        self.attrs, self.nodes, self.edges = dict(attrs), [], []

    def set(self, key, value):
        self.attrs[key] = value

    def set_node_defaults(self, **attrs):
        self.attrs["node_defaults"] = attrs

    def add_node(self, node):
        self.nodes.append(node)

    def add_edge(self, edge):
        self.edges.append(edge)

    def get_edge(self, source, target):
        return [e for e in self.edges if (e.source, e.target) == (source, target)]


class _Item:
    def __init__(self, *ends, **attrs):
        self.ends, self.attrs = ends, dict(attrs)

    def set(self, key, value):
        self.attrs[key] = value

    source = property(lambda self: self.ends[0])
    target = property(lambda self: self.ends[1])


FAKE_PYDOT = types.SimpleNamespace(Dot=_Graph, Cluster=_Graph, Node=_Item, Edge=_Item)


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


def _drawn(dot, model):
    """The graph with layer names for pydot's ids (``str(id(layer))`` in both libraries)."""
    layers = list(model.layers) + list(getattr(model, "operations", []))
    names = {str(id(layer)): layer.name for layer in layers}
    names[str(id(model))] = model.name
    nodes = [(names[node.ends[0]], node.attrs) for node in dot.nodes]
    edges = [(names[e.source], names[e.target], e.attrs) for e in dot.edges]
    return dot.attrs, nodes, sorted(edges, key=str)


@pytest.fixture
def fake_pydot(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydot", FAKE_PYDOT)
    monkeypatch.setattr(keras_visualization, "pydot", FAKE_PYDOT)


@pytest.mark.parametrize("make", [_model, _sequential], ids=["functional", "sequential"])
@pytest.mark.parametrize("options", [
    {},
    {"show_shapes": True, "show_dtype": True, "show_layer_activations": True, "show_trainable": True,
     "rankdir": "LR", "dpi": 96, "splines": "line"},
    {"show_layer_names": False, "show_trainable": True, "subgraph": True},
], ids=["defaults", "everything", "subgraph"])
def test_model_to_dot_builds_keras_graph(fake_pydot, make, options):
    keras.backend.clear_session()
    kmodel, model = make(keras), make(sn)
    expected = _drawn(keras.utils.model_to_dot(kmodel, **options), kmodel)
    assert _drawn(sn.utils.model_to_dot(model, **options), model) == expected
    assert len(expected[1]) >= 3


def test_model_to_dot_errors_as_keras(fake_pydot):
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
