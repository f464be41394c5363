"""``to_keras``/``from_keras`` for functional models: the same graph of layer calls, the same weights.

Both directions replay the graph node by node in the other framework: every input becomes an
``Input`` of the same shape, dtype and name; every layer is converted once (a layer called twice
stays ONE shared layer) and called on the converted tensors of its node. Weights are then copied
layer by layer, so the copy does not depend on the two frameworks ordering ``model.layers`` alike
(the parity tests check that they do).
"""

from __future__ import annotations

import keras
import numpy as np

import scratchnet as sn
from scratchnet import kernels
from scratchnet.functional import Functional
from scratchnet.layers.base import float_dtype
from scratchnet.layers.input_layer import InputLayer
from tfnet import convert


def is_keras_functional(kmodel) -> bool:
    return isinstance(kmodel, keras.Model) and not isinstance(kmodel, keras.Sequential) \
        and type(kmodel).__name__ == "Functional"


def functional_to_keras(model: Functional) -> keras.Model:
    """The equivalent ``keras.Model(inputs, outputs)``: same layers, connections and weights;
    compiled with the per-output losses, ``loss_weights`` and metrics when ``model`` is."""
    dtype = float_dtype(model.weights)  # its first float weight's (not a quantized int8 kernel)
    common = {} if dtype == np.float32 else {"dtype": str(dtype)}
    ktensors = {}  # scratchnet KerasTensor -> Keras KerasTensor
    klayers = {}  # scratchnet layer -> its Keras twin (one per layer, shared layers included)
    for t, name in zip(model.inputs, model.input_names, strict=True):
        layer = t.node.layer
        ktensors[t] = keras.Input(layer.shape, dtype=layer.dtype or str(dtype), name=name,
                                  batch_size=t.shape[0])  # a declared batch size (stateful RNNs)
    for node in model._nodes:
        if isinstance(node.layer, InputLayer):
            continue
        if node.layer not in klayers:
            klayers[node.layer] = convert.layer_to_keras(node.layer, **common,
                                                         **convert._quantized_to_keras(node.layer))
        if node.several_args:  # MultiHeadAttention(query, value, key=...), LSTM(x, initial_state=...)
            args, kwargs = node.call_arguments(ktensors)
            result = klayers[node.layer](*args, **kwargs)
        else:
            args = [ktensors[t] for t in node.inputs]
            # (node.kwargs: a list call's plain keyword values, Attention()([q, v], use_causal_mask=True))
            result = klayers[node.layer](args if node.inputs_as_list else args[0], **node.kwargs)
        if node.outputs:  # several outputs: LSTM(return_state=True)'s [output, h, c]; a dict by sorted key
            ktensors.update(zip(node.outputs, keras.tree.flatten(result), strict=True))
        else:
            ktensors[node.output] = result
    if isinstance(model._inputs_struct, dict):
        kinputs = {name: ktensors[t] for t, name in zip(model.inputs, model.input_names, strict=True)}
    elif isinstance(model._inputs_struct, list | tuple):
        kinputs = [ktensors[t] for t in model.inputs]
    else:
        kinputs = ktensors[model.inputs[0]]  # one input, not a list of one (Keras warns otherwise)
    kmodel = keras.Model(kinputs, model._packed_outputs([ktensors[t] for t in model.outputs]),
                         name=model.name)
    for layer, klayer in klayers.items():
        if layer.weights:  # (an op such as ops.depth_to_space is a Keras Operation: no weights)
            klayer.set_weights([kernels.to_numpy(p.value) for p in layer.weights])
    from tfnet.structured import refresh_statistics

    refresh_statistics(kmodel)  # Keras' Normalization reads set weights only after this
    if model.compiled:
        multi = model._outputs_is_list
        losses = [None if loss is None else convert.loss_to_keras(loss) for loss in model.output_losses]
        metrics = [[convert._metric_to_keras(m) for m in names] for names in model.output_metric_names]
        weights = list(model.loss_weights)
        if model._output_keys is not None and multi:  # a dict of outputs: keyed as Keras matches them
            keys = model._target_names
            losses, weights, metrics = (dict(zip(keys, v, strict=True)) for v in (losses, weights, metrics))
        kmodel.compile(optimizer=convert.optimizer_to_keras(model.optimizer),
                       loss=losses if multi else losses[0],
                       loss_weights=weights if multi else None,
                       metrics=metrics if multi else metrics[0],
                       weighted_metrics=[convert._metric_to_keras(m)
                                         for m in model.weighted_metric_names] or None,
                       jit_compile=False)
    return kmodel


def functional_from_keras(kmodel: keras.Model, seed: int | None = None) -> Functional:
    """The equivalent ``scratchnet.Model`` of a Keras functional model, weights copied."""
    calls = {}  # id(Keras node) -> what calling its scratchnet twin returned
    slayers = {}  # Keras layer -> its scratchnet twin

    def is_tensors(value) -> bool:  # a tensor, or a list of them (initial_state)
        if isinstance(value, list | tuple) and value:
            return all(isinstance(v, keras.KerasTensor) for v in value)
        return isinstance(value, keras.KerasTensor)

    def convert_value(value):
        if isinstance(value, list | tuple) and is_tensors(value):
            return [convert_tensor(v) for v in value]
        return convert_tensor(value) if isinstance(value, keras.KerasTensor) else value

    def convert_tensor(ktensor):
        klayer, node_index, tensor_index = ktensor._keras_history
        knode = klayer._inbound_nodes[node_index]
        if id(knode) not in calls:  # each call once, though LSTM(return_state=True) has 3 outputs
            calls[id(knode)] = convert_call(ktensor, klayer, knode)
        out = calls[id(knode)]
        return sn.tree.flatten(out)[tensor_index] if isinstance(out, list | tuple | dict) else out

    def convert_call(ktensor, klayer, knode):
        if knode.is_input:
            return sn.Input(tuple(ktensor.shape[1:]), dtype=_input_dtype(ktensor.dtype),
                            batch_size=ktensor.shape[0], name=klayer.name)
        if klayer not in slayers:
            # a nested model (keras.Sequential or functional): its twin, weights copied, called
            # on the tensors as Keras calls it (its layers join the graph, in Keras' order)
            slayers[klayer] = convert.from_keras(klayer) if isinstance(klayer, keras.Model) \
                else convert.layer_from_keras(klayer)
        kargs, kkwargs = knode.arguments.args, knode.arguments.kwargs
        kkwargs = {k: v for k, v in kkwargs.items()
                   if k != "training" and not (k == "mask" and v is None)}
        if len(kargs) != 1 or any(is_tensors(v) for v in kkwargs.values()):
            # several tensors by position and keyword: MultiHeadAttention(query, value, key=...),
            # LSTM(x, initial_state=[h, c])
            return slayers[klayer](*[convert_tensor(t) for t in kargs],
                                   **{k: convert_value(v) for k, v in kkwargs.items()})
        arg = kargs[0]
        if isinstance(arg, list | tuple):
            if kkwargs and getattr(slayers[klayer], "takes_list_masks", False):  # use_causal_mask=
                return slayers[klayer]([convert_tensor(t) for t in arg], **kkwargs)
            return slayers[klayer]([convert_tensor(t) for t in arg])
        # (one tensor with plain keyword values: ReversibleEmbedding(h, reverse=True))
        return slayers[klayer](convert_tensor(arg), **kkwargs)

    inputs_struct = getattr(kmodel, "_inputs_struct", kmodel.inputs)
    if isinstance(inputs_struct, dict):
        inputs = {name: convert_tensor(t) for name, t in inputs_struct.items()}
    else:
        inputs = [convert_tensor(t) for t in kmodel.inputs]
    outputs = [convert_tensor(t) for t in kmodel.outputs]
    outputs_struct = getattr(kmodel, "_outputs_struct", kmodel.outputs)
    if isinstance(outputs_struct, dict):  # kmodel.outputs: the dict's values by sorted key
        outputs = keras.tree.pack_sequence_as(outputs_struct, outputs)
    elif not isinstance(outputs_struct, list | tuple):
        outputs = outputs[0]
    model = sn.Model(inputs, outputs, name=kmodel.name, seed=seed)
    for klayer, layer in slayers.items():
        if isinstance(klayer, keras.Model):
            continue  # (a nested model's weights: copied by from_keras)
        # (an op such as ops.depth_to_space is a Keras Operation, with no get_weights)
        for param, value in zip(layer.weights, klayer.get_weights() if layer.weights else [], strict=True):
            param.value[...] = np.asarray(value, dtype=param.value.dtype)
    if kmodel.compiled:
        config = kmodel.get_compile_config() or {}
        kloss = kmodel.loss
        if isinstance(kloss, dict):
            loss = {k: convert.loss_from_keras(v) for k, v in kloss.items()}
        elif isinstance(kloss, list | tuple):
            loss = [convert.loss_from_keras(v) for v in kloss]
        else:
            loss = convert.loss_from_keras(kloss)
        metrics = config.get("metrics")
        model.compile(optimizer=convert.optimizer_from_keras(kmodel.optimizer), loss=loss,
                      loss_weights=config.get("loss_weights"),
                      metrics=_metrics_from_keras(metrics))
    return model


def _metrics_from_keras(metrics):
    if metrics is None:
        return None
    if isinstance(metrics, dict):
        return {k: _metrics_from_keras(v) for k, v in metrics.items()}
    if isinstance(metrics, list | tuple):
        return [_metrics_from_keras(m) for m in metrics]
    return convert._metric_from_keras(metrics)


def _input_dtype(dtype) -> str | None:
    name = keras.backend.standardize_dtype(dtype)
    return None if name == keras.config.floatx() else name


# The merging layers: no weights; Concatenate's axis and Dot's axes/normalize are the arguments.
for _name in ("Add", "Subtract", "Multiply", "Average"):
    convert.register_layer(getattr(sn.layers, _name), getattr(keras.layers, _name),
                           lambda layer, _n=_name, **kw: getattr(keras.layers, _n)(**kw),
                           lambda klayer, _n=_name, **kw: getattr(sn.layers, _n)(**kw))
convert.register_layer(sn.layers.Concatenate, keras.layers.Concatenate,
                       lambda layer, **kw: keras.layers.Concatenate(axis=layer.axis, **kw),
                       lambda klayer, **kw: sn.layers.Concatenate(axis=klayer.axis, **kw))
convert.register_layer(sn.layers.Dot, keras.layers.Dot,
                       lambda layer, **kw: keras.layers.Dot(layer.axes, normalize=layer.normalize,
                                                            **kw),
                       lambda klayer, **kw: sn.layers.Dot(klayer.axes, normalize=klayer.normalize,
                                                          **kw))


def functional_loss_and_grads(kmodel: keras.Model, x, y, sample_weight=None):
    """``tfnet.loss_and_grads`` for a functional Keras model: the compiled total loss
    ``sum_k w_k * loss_k`` (Keras' own ``compute_loss``, which applies the per-output losses,
    ``loss_weights`` and the softmax-logits rule), and its gradients in ``get_weights()`` order."""
    import tensorflow as tf

    from tfnet.gradients import dense_gradients

    if getattr(kmodel, "inputs", None) is None:  # a subclassed model: the data's own dtypes
        x = tf.nest.map_structure(tf.convert_to_tensor, x)
    elif isinstance(x, dict):
        x = {t.name: tf.convert_to_tensor(x[t.name], dtype=t.dtype) for t in kmodel.inputs}
    elif isinstance(x, list | tuple):
        x = [tf.convert_to_tensor(v, dtype=t.dtype) for v, t in zip(x, kmodel.inputs, strict=True)]
    else:
        x = tf.convert_to_tensor(x, dtype=kmodel.inputs[0].dtype)
    with tf.GradientTape() as tape:
        y_pred = kmodel(x, training=True)
        loss = kmodel.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                   training=True)
    grads = tape.gradient(loss, kmodel.weights)
    return float(loss), dense_gradients(kmodel, grads)
