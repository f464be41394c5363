"""``plot_model``: a picture of a model's layer graph, as ``keras.utils.plot_model`` draws it;
``model_to_dot``: the same graph as a ``pydot.Dot``, as ``keras.utils.model_to_dot`` builds it.

Keras draws with Graphviz; scratchnet's ``plot_model`` draws the same boxes and arrows with
matplotlib (no Graphviz needed): one box per layer ("name (Class)", and with ``show_shapes`` its
input and output shapes), one arrow per connection, inputs at the top (``rankdir="TB"``) or left
("LR"). A layer sits one row below the lowest layer it reads from.

``model_to_dot`` needs ``pydot`` (``pip install pydot``; it is in the ``dev`` extra, for the
parity test, but scratchnet itself does not depend on it): without it, it raises Keras'
``ImportError``.
"""

from __future__ import annotations

import importlib
from pathlib import Path


def plot_model(model, to_file="model.png", show_shapes: bool = False, show_dtype: bool = False,
               show_layer_names: bool = False, rankdir: str = "TB", expand_nested: bool = False,
               dpi: int = 200, show_layer_activations: bool = False, show_trainable: bool = False,
               **kwargs) -> None:
    """Write a PNG of ``model``'s layers and their connections to ``to_file`` (Keras' arguments
    and defaults; ``expand_nested`` has nothing to expand, as scratchnet lists a nested model's
    layers in the outer model). ``show_trainable`` marks each layer that has weights
    "Trainable" or "Non-trainable" by its ``trainable`` flag, as Keras' ``make_layer_label``."""
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"plot_model: expected rankdir to be 'TB' or 'LR', received {rankdir!r}")
    if kwargs:
        raise ValueError(f"plot_model: unrecognized arguments {sorted(kwargs)}")
    layers, edges = _graph(model)
    labels = {layer: _label(layer, show_shapes, show_dtype, show_layer_names,
                            show_layer_activations, show_trainable) for layer in layers}
    rows = _rows(layers, edges)
    _draw(layers, edges, labels, rows, Path(to_file), rankdir, dpi)


def _graph(model) -> tuple[list, list]:
    """The layers and the (source layer, target layer) connections, Sequential or functional."""
    from scratchnet.layers.input_layer import InputLayer

    if hasattr(model, "_nodes"):
        edges = []
        for node in model._nodes:
            for tensor in node.inputs:
                edge = (tensor.node.layer, node.layer)
                if edge not in edges:
                    edges.append(edge)
        return list(model.layers), edges
    model._require_built("plot_model")
    first = InputLayer(model.input_shape[1:], name="input_layer")
    layers = [first, *model.layers]
    return layers, list(zip(layers[:-1], layers[1:], strict=True))


def _rows(layers: list, edges: list) -> dict:
    """Row of each layer: inputs on row 0, every other layer below all the layers it reads."""
    rows = {layer: 0 for layer in layers}
    for _ in range(len(layers)):  # longest path; a shared layer's loops stop after len(layers)
        changed = False
        for source, target in edges:
            if rows[target] < rows[source] + 1 and rows[source] + 1 < len(layers):
                rows[target] = rows[source] + 1
                changed = True
        if not changed:
            break
    return rows


def _label(layer, show_shapes, show_dtype, show_layer_names, show_activations, show_trainable):
    from scratchnet import config
    from scratchnet.layers.input_layer import InputLayer

    class_name = type(layer).__name__
    lines = [f"{layer.name} ({class_name})" if show_layer_names else class_name]
    if show_activations and hasattr(layer, "activation"):
        lines.append(f"Activation: {layer.activation.name}")
    if show_dtype:
        lines.append(f"Output dtype: {getattr(layer, 'dtype', None) or config.floatx()}")
    if show_shapes:
        if isinstance(layer, InputLayer):
            lines.append(f"Output shape: {(None, *layer.shape)}")
        else:
            shape_in = layer.input_shape
            shape_in = [(None, *s) for s in shape_in] if isinstance(shape_in, list) else \
                (None, *shape_in)
            lines.append(f"Input shape: {shape_in}")
            lines.append(f"Output shape: {(None, *layer.output_shape)}")
    if show_trainable and layer.weights:  # (Keras marks only the layers that have weights)
        lines.append("Trainable" if layer.trainable else "Non-trainable")
    return "\n".join(lines)


CHAR_W, LINE_H, FONT = 0.075, 0.15, 9  # inches per monospace character and line at 9 pt


def _draw(layers, edges, labels, rows, path: Path, rankdir: str, dpi: int) -> None:
    """One inch per data unit, so each box is sized to its text; arrows run from the bottom
    (right, for "LR") edge of one box to the top (left) edge of the next, curved when they skip
    rows so they do not hide behind the boxes in between."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    size = {}
    for layer in layers:
        lines = labels[layer].split("\n")
        size[layer] = (max(len(line) for line in lines) * CHAR_W + 0.3, len(lines) * LINE_H + 0.2)
    by_row: dict[int, list] = {}
    for layer in layers:
        by_row.setdefault(rows[layer], []).append(layer)
    across_gap, down_gap = 0.4, 0.5
    row_depth = {r: max(size[m][1] if rankdir == "TB" else size[m][0] for m in members)
                 for r, members in by_row.items()}
    row_span = {r: sum((size[m][0] if rankdir == "TB" else size[m][1]) + across_gap
                       for m in members) - across_gap for r, members in by_row.items()}
    total_across = max(row_span.values()) + 0.4
    centre, offset, position = total_across / 2, 0.2, {}
    for r in sorted(by_row):
        cursor = centre - row_span[r] / 2
        for m in by_row[r]:
            extent = size[m][0] if rankdir == "TB" else size[m][1]
            position[m] = (cursor + extent / 2, offset + row_depth[r] / 2)
            cursor += extent + across_gap
        offset += row_depth[r] + down_gap
    total_down = offset - down_gap + 0.2
    if rankdir == "TB":  # rows go down the page
        position = {m: (a, total_down - d) for m, (a, d) in position.items()}
        fig_size = (total_across, total_down)
    else:  # rows go right, across becomes down
        position = {m: (d, total_across - a) for m, (a, d) in position.items()}
        fig_size = (total_down, total_across)
    fig = Figure(figsize=fig_size)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, fig_size[0])
    ax.set_ylim(0, fig_size[1])
    ax.set_axis_off()
    for source, target in edges:
        (x0, y0), (x1, y1) = position[source], position[target]
        if rankdir == "TB":
            start, end = (x0, y0 - size[source][1] / 2), (x1, y1 + size[target][1] / 2)
        else:
            start, end = (x0 + size[source][0] / 2, y0), (x1 - size[target][0] / 2, y1)
        bend = 0.35 if abs(rows[target] - rows[source]) > 1 else 0.0
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12,
                                     connectionstyle=f"arc3,rad={bend}", color="0.25", lw=1.0))
    for layer in layers:
        (x, y), (w, h) = position[layer], size[layer]
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.06",
                                    facecolor="#eef3fb", edgecolor="0.3", lw=1.0))
        ax.text(x, y, labels[layer], ha="center", va="center", fontsize=FONT, family="monospace")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)


# --------------------------------------------------------------------------- model_to_dot
def _import_pydot():
    """``pydot``, or one of its older forks, as Keras looks for them; None without any."""
    for name in ("pydot", "pydot_ng", "pydotplus"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def model_to_dot(model, show_shapes: bool = False, show_dtype: bool = False, show_layer_names: bool = True,
                 rankdir: str = "TB", expand_nested: bool = False, dpi: int = 200, subgraph: bool = False,
                 show_layer_activations: bool = False, show_trainable: bool = False, splines: str = "ortho",
                 **kwargs):
    """``model`` as a ``pydot.Dot`` graph (``keras.utils.model_to_dot``, Keras' arguments and
    defaults): one node per layer (and per operation of a functional model), labelled with
    Keras' HTML table (:func:`_dot_label`), one edge per connection; ``subgraph=True`` returns a
    ``pydot.Cluster``. A subclassed model is one node. ``expand_nested`` has nothing to expand:
    scratchnet lists a nested model's layers in the outer model.

    Raises ``ValueError`` for a model not built yet, and ``ImportError`` without ``pydot``."""
    from scratchnet.functional import Functional
    from scratchnet.model import Sequential
    from scratchnet.subclassing import Subclassed

    if not model.built:
        raise ValueError("This model has not yet been built. Build the model first by calling `build()` or "
                         "by calling the model on a batch of data.")
    pydot = _import_pydot()
    if pydot is None:
        raise ImportError("You must install pydot (`pip install pydot`) for model_to_dot to work.")
    if subgraph:
        dot = pydot.Cluster(style="dashed", graph_name=model.name)
        dot.set("label", model.name)
        dot.set("labeljust", "l")
    else:
        dot = pydot.Dot()
        dot.set("rankdir", rankdir)
        dot.set("concentrate", True)
        dot.set("dpi", dpi)
        dot.set("splines", splines)
        dot.set_node_defaults(shape="record")
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("Argument `layer_range` is no longer supported.")
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {kwargs}")
    label_args = (show_layer_names, show_layer_activations, show_dtype, show_shapes, show_trainable)

    def add_node(layer):
        node = pydot.Node(str(id(layer)), label=_dot_label(layer, *label_args))
        node.set("fontname", "Helvetica")
        node.set("border", "0")
        node.set("margin", "0")
        dot.add_node(node)

    def add_edge(source, target):
        if not dot.get_edge(str(id(source)), str(id(target))):
            edge = pydot.Edge(str(id(source)), str(id(target)))
            edge.set("penwidth", "2")
            dot.add_edge(edge)

    if isinstance(model, Subclassed) or not isinstance(model, Sequential | Functional):
        add_node(model)  # Keras draws a subclassed model as one node
        return dot
    layers = list(model.layers) if isinstance(model, Sequential) else model.operations
    for layer in layers:
        add_node(layer)
    if isinstance(model, Sequential):
        for source, target in zip(layers[:-1], layers[1:], strict=True):
            add_edge(source, target)
        return dot
    for node in model._nodes:  # each call: an edge from the layer that made each input
        for tensor in node.inputs:
            add_edge(tensor.node.layer, node.layer)
    return dot


def _dot_label(layer, show_layer_names, show_layer_activations, show_dtype, show_shapes,
               show_trainable) -> str:
    """Keras' node label (``make_layer_label`` in keras/src/utils/model_visualization.py): an HTML
    table with the name and class, the activation, the input and output shapes, the output
    dtype and whether the layer's weights train."""
    class_name = type(layer).__name__
    colspan = max(1, int(show_dtype) + int(show_trainable) + (2 if show_shapes else 0))
    title = f"<b>{layer.name}</b> ({class_name})" if show_layer_names else f"<b>{class_name}</b>"
    table = ('<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">'
             f'<tr><td colspan="{colspan}" bgcolor="black"><font point-size="16" color="white">'
             f"{title}</font></td></tr>")
    if show_layer_activations and getattr(layer, "activation", None) is not None:
        activation = layer.activation
        name = getattr(activation, "name", None) or getattr(activation, "__name__", None) or str(activation)
        table += (f'<tr><td bgcolor="white" colspan="{colspan}"><font point-size="14">'
                  f"Activation: <b>{name}</b></font></td></tr>")
    cols = []
    if show_shapes:
        if class_name != "InputLayer":
            cols.append('<td bgcolor="white"><font point-size="14">'
                        f"Input shape: <b>{_tensor_attr(layer, 'input', 'shape')}</b></font></td>")
        cols.append('<td bgcolor="white"><font point-size="14">'
                    f"Output shape: <b>{_tensor_attr(layer, 'output', 'shape')}</b></font></td>")
    if show_dtype:
        cols.append('<td bgcolor="white"><font point-size="14">'
                    f"Output dtype: <b>{_tensor_attr(layer, 'output', 'dtype')}</b></font></td>")
    if show_trainable and getattr(layer, "weights", None):
        cols.append('<td bgcolor="forestgreen"><font point-size="14" color="white"><b>Trainable</b>'
                    "</font></td>" if layer.trainable else
                    '<td bgcolor="firebrick"><font point-size="14" color="white"><b>Non-trainable</b>'
                    "</font></td>")
    if cols:
        table += f"<tr>{''.join(cols)}</tr>"
    return table + "</table>>"


def _tensor_attr(layer, which: str, attr: str) -> str:
    """The ``shape`` or ``dtype`` of ``layer.input``/``layer.output`` (a list for several
    tensors) as Keras' label writes it, or ``"?"`` where the layer has none."""
    try:
        tensors = getattr(layer, which)
    except (ValueError, AttributeError):
        return "?"
    value = [getattr(t, attr) for t in tensors] if isinstance(tensors, list | tuple) else \
        getattr(tensors, attr)
    return f"{value}" if value is not None else "?"
