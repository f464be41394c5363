"""One measurement in its own process: one framework, one model, one batch size; prints one
``RESULT {json}`` line.

A fresh process per measurement keeps the frameworks apart (TensorFlow's thread pools and memory
never meet NumPy's) and makes the peak memory (``ru_maxrss``) that of this framework alone.
The parent (``python -m benchmarks``) chooses the backend through the environment before this
module imports anything: ``SCRATCHNET_BACKEND`` for scratchnet, ``CUDA_VISIBLE_DEVICES`` and
``TF_ENABLE_ONEDNN_OPTS`` for TensorFlow.

Phases, each timed on its own: build -> warm-up training steps (Numba compiles or loads its cache,
``tf.function`` traces) -> steady-state training steps -> warm-up inference -> steady-state
inference. The scratch side trains with ``model.train_step(x, y)``; the TensorFlow side with
``model.train_on_batch(x, y)`` after the default ``model.compile`` (``jit_compile="auto"``, which
Keras resolves to no XLA on a machine without a GPU). Inference is ``model.predict(x,
batch_size=B)`` on both sides, as a user calls it, on an array of ``--infer-batches`` batches;
TensorFlow's ``predict_on_batch`` and ``tf.function(model)`` are measured beside it.

``numpy-ml`` (the optional ``bench`` extra, ``pip install -e ".[bench]"``) is a peer: a from-scratch
NumPy library a learner might compare with. It has no model class, so its step is written here as
its own examples do: each layer's ``forward``, the loss gradient, each ``backward`` in reverse, each
``update``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time

import numpy as np

# name -> (input shape, final softmax?); the logits models use from_logits=True.
MODELS = {
    "mlp": ((8, 8, 1), False),
    "small_cnn": ((32, 32, 3), False),
    "rps_cnn": ((64, 64, 3), True),
    "talk_cnn": ((150, 150, 3), True),
}
SCRATCH_BUILDERS = {"mlp": "digits_mlp", "small_cnn": "small_cnn", "rps_cnn": "rps_cnn",
                    "talk_cnn": "talk_cnn"}


def rss_mb() -> float:
    """Resident memory of this process now, in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    """The largest resident memory this process has had, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_batches(model: str, batch: int, count: int = 4):
    """``count`` distinct batches: the real digits for the MLP, uniform noise images otherwise
    (throughput does not depend on what the pixels show)."""
    rng = np.random.default_rng(0)
    shape, _ = MODELS[model]
    if model == "mlp":
        from scratchnet.datasets import load_digits

        x, y = load_digits("train")
        idx = rng.permutation(len(x))[:batch * count]
        x, y = x[idx], y[idx]
    else:
        x = rng.random((batch * count,) + shape, dtype=np.float32)
        y = rng.integers(0, 3, batch * count)
    return [(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]) for i in range(count)]


def infer_arrays(batches, per_call: int) -> list:
    """The arrays one ``predict`` call gets: ``per_call`` batches joined, cycling through them."""
    xs = [x for x, _ in batches]
    return [np.concatenate([xs[(i + k) % len(xs)] for k in range(per_call)])
            for i in range(0, len(xs), per_call)]


def timed_predict(predict, arrays, n: int) -> list[float]:
    """Seconds of each of ``n`` calls of ``predict(x)``, cycling through the arrays."""
    return timed(lambda x, y: predict(x), [(a, None) for a in arrays], n)


def timed(step, batches, n: int) -> list[float]:
    """Seconds of each of ``n`` calls of ``step(x, y)``, cycling through the batches."""
    times = []
    for i in range(n):
        x, y = batches[i % len(batches)]
        start = time.perf_counter()
        step(x, y)
        times.append(time.perf_counter() - start)
    return times


# ------------------------------------------------------------------------------------ scratch


def scratch_runner(model_name: str):
    import scratchnet as sn

    shape, softmax = MODELS[model_name]
    model = getattr(sn.models, SCRATCH_BUILDERS[model_name])(input_shape=shape, seed=0)
    model.compile(optimizer=sn.optimizers.Adam(learning_rate=1e-3),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=not softmax))
    return model, model.train_step


def scratch_predict(model, batch: int):
    return lambda x: model.predict(x, batch_size=batch, verbose=0)


def scratch_info() -> dict:
    import scratchnet as sn

    info = {"backend": sn.get_backend(), "numpy": np.__version__,
            "malloc_keeps_freed_memory": sn.kernels.memory.KEEPS_FREED_MEMORY}
    if sn.get_backend() == "numba":
        import numba

        info.update(numba=numba.__version__, numba_threads=numba.get_num_threads(),
                    numba_threading_layer=numba.threading_layer(),
                    numba_vector_bits=sn.kernels.numba_kernels.vector_bits(),
                    numba_slp_vectorize=numba.config.SLP_VECTORIZE)
    return info


def scratch_profile(model, batches, steps: int) -> tuple[dict, list]:
    """From ``steps`` extra training steps: milliseconds per step in each kernel (Dense's products
    are ``matmul``; the Winograd convolutions are the ``winograd_*`` kernels), in the optimizer, and
    everything else (activations, loss, Python); and, timed at the same time by
    ``sn.profiler.Profiler``, each layer's forward and backward milliseconds with the convolution
    algorithm it ran (``Conv2D.conv_algorithm``)."""
    from scratchnet import kernels
    from scratchnet.profiler import Profiler

    spent: dict[str, float] = {}

    def timer(name, fn):
        def wrapped(*args, **kwargs):
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - start
            return out
        return wrapped

    saved = dict(kernels._impl)
    for name, fn in saved.items():
        if name != "adam_update":  # inside the optimizer's apply, timed whole just below
            kernels._impl[name] = timer(name, fn)
    model.optimizer.apply = timer("Adam update", model.optimizer.apply)
    with Profiler(model) as layer_profiler:
        total = sum(timed(model.train_step, batches, steps))
    kernels._impl.update(saved)
    model.optimizer.__dict__.pop("apply", None)
    profile = {name: 1e3 * t / steps for name, t in sorted(spent.items(), key=lambda kv: -kv[1])}
    profile["everything else"] = 1e3 * (total - sum(spent.values())) / steps
    profile["total step"] = 1e3 * total / steps
    layers = [{"name": r["name"], "algorithm": r.get("algorithm"), "fused": r.get("fused"),
               "forward_ms": 1e3 * r["forward"] / steps, "backward_ms": 1e3 * r["backward"] / steps,
               "total_ms": 1e3 * r["total"] / steps, "share": r["share"]}
              for r in layer_profiler.rows()]
    return profile, layers


def conv_algorithms(model) -> dict:
    """Each convolution layer's algorithm in the last step: ``{"conv2d": "im2col", ...}``."""
    return {layer.name: layer.conv_algorithm for layer in model.layers
            if getattr(layer, "conv_algorithm", None)}


# ------------------------------------------------------------------------------------ numpy-ml


def import_numpy_ml():
    """numpy-ml 0.1.2 (2020) does ``from collections import Hashable``, which Python 3.10 removed:
    importing it fails with ``ImportError: cannot import name 'Hashable' from 'collections'``. The
    name moved to ``collections.abc``; putting it back is the one change that lets it import."""
    import collections
    import collections.abc
    import warnings

    if not hasattr(collections, "Hashable"):
        collections.Hashable = collections.abc.Hashable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its rl_models warn that OpenAI gym is missing
        import numpy_ml
        from numpy_ml.neural_nets import layers, losses, optimizers
    return numpy_ml, layers, losses, optimizers


def numpy_ml_runner(model_name: str):
    """The model as numpy-ml layers (``pad=0`` is "valid": its ``pad="valid"`` fails in ``pad2D``),
    Adam(1e-3) on each layer, softmax + cross-entropy on the logits. No dropout layer: numpy-ml's
    ``Dropout`` is a wrapper around a layer, and dropout costs little; the step is otherwise the
    same computation. numpy-ml computes in float64 (its initialisers make float64 weights)."""
    _, nl, losses, optimizers = import_numpy_ml()

    def adam():
        return optimizers.Adam(lr=1e-3)

    logits = "Affine(slope=1, intercept=0)"  # numpy-ml's identity activation
    if model_name == "mlp":
        stack = [nl.Flatten(optimizer=adam()), nl.FullyConnected(64, act_fn="ReLU", optimizer=adam()),
                 nl.FullyConnected(10, act_fn=logits, optimizer=adam())]
    else:
        filters, dense = {"small_cnn": ((16, 32), 64), "rps_cnn": ((16, 32, 64), 128),
                          "talk_cnn": ((64, 64, 128, 128), 512)}[model_name]
        stack = []
        for f in filters:
            stack += [nl.Conv2D(out_ch=f, kernel_shape=(3, 3), pad=0, stride=1, act_fn="ReLU",
                                optimizer=adam()),
                      nl.Pool2D(kernel_shape=(2, 2), stride=2, mode="max", optimizer=adam())]
        stack += [nl.Flatten(optimizer=adam()), nl.FullyConnected(dense, act_fn="ReLU", optimizer=adam()),
                  nl.FullyConnected(3, act_fn=logits, optimizer=adam())]
    softmax, loss = nl.Softmax(), losses.CrossEntropy()
    classes = 10 if model_name == "mlp" else 3

    def train_step(x, y):
        h = x
        for layer in stack:                        # forward, keeping what backward needs
            h = layer.forward(h)
        y_onehot = np.eye(classes)[y]
        probs = softmax.forward(h)
        value = loss(y_onehot, probs)
        grad = loss.grad(y_onehot, probs)          # d loss / d logits (softmax included)
        for layer in reversed(stack):              # backward
            grad = layer.backward(grad)
        for layer in stack:                        # Adam on each layer's parameters
            layer.update(value)
        return value

    def predict(x, batch: int):
        out = []
        for start in range(0, len(x), batch):
            h = x[start:start + batch]
            for layer in stack:
                h = layer.forward(h, retain_derived=False)
            out.append(softmax.forward(h, retain_derived=False))
        return np.concatenate(out)

    return stack, train_step, predict


def numpy_ml_info() -> dict:
    import numpy_ml

    return {"numpy_ml": getattr(numpy_ml, "__version__", _dist_version("numpy-ml")),
            "numpy": np.__version__, "dtype": "float64"}


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


# ------------------------------------------------------------------------------------ tensorflow


def tf_runner(model_name: str):
    import keras

    import tfnet.models

    shape, softmax = MODELS[model_name]
    model = getattr(tfnet.models, SCRATCH_BUILDERS[model_name])(input_shape=shape)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not softmax))
    return model, model.train_on_batch


def tf_info(model) -> dict:
    import keras
    import tensorflow as tf

    threading = tf.config.threading
    return {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
            "tf_intra_op_threads": threading.get_intra_op_parallelism_threads(),
            "tf_inter_op_threads": threading.get_inter_op_parallelism_threads(),
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset: TF default)"),
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
            "jit_compile": bool(model.jit_compile),
            # tfnet imports scratchnet, whose malloc settings the parent turns off here
            "malloc_keeps_freed_memory": getattr(sys.modules.get("scratchnet.kernels.memory"),
                                                 "KEEPS_FREED_MEMORY", False)}


def tf_other_inference(model, batches, warmup: int, steps: int) -> dict:
    """Images/s of ``model.predict_on_batch(x)`` and of ``tf.function(model)(x, training=False)``,
    one batch a call: inference without ``predict``'s per-call data pipeline, and the second also
    without Keras' per-call overhead, a best case for TensorFlow."""
    import tensorflow as tf

    call = tf.function(lambda x: model(x, training=False))
    out = {}
    for name, fn in (("infer_on_batch_images_per_s", lambda x, y: model.predict_on_batch(x)),
                     ("infer_tf_function_images_per_s", lambda x, y: call(x).numpy())):
        timed(fn, batches, warmup)
        out[name] = len(batches[0][0]) * steps / sum(timed(fn, batches, steps))
    return out


# ------------------------------------------------------------------------------------ main


def blas_threads() -> list:
    try:
        import threadpoolctl
    except ImportError:
        return []
    return [{"library": i.get("internal_api"), "threads": i.get("num_threads"),
             **({"kernels": i["architecture"]} if i.get("architecture") else {})}
            for i in threadpoolctl.threadpool_info()]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", required=True,
                        choices=["scratch-numpy", "scratch-numba", "tf-cpu", "tf-gpu", "numpy-ml"])
    parser.add_argument("--model", required=True, choices=list(MODELS))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--infer-batches", type=int, default=1,
                        help="batches per predict call (predict(x, batch_size=B) on that many)")
    parser.add_argument("--infer-calls", type=int, default=None,
                        help="timed predict calls (default: enough for --steps batches)")
    parser.add_argument("--profile-steps", type=int, default=0)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    scratch = args.framework.startswith("scratch")
    numpy_ml = args.framework == "numpy-ml"
    if scratch:
        model, train_step = scratch_runner(args.model)
        predict = scratch_predict(model, args.batch)
    elif numpy_ml:
        model, train_step, nml_predict = numpy_ml_runner(args.model)
        predict = lambda x: nml_predict(x, args.batch)  # noqa: E731
    else:
        model, train_step = tf_runner(args.model)
        predict = lambda x: model.predict(x, batch_size=args.batch, verbose=0)  # noqa: E731
    batches = make_batches(args.model, args.batch, count=max(4, args.infer_batches))
    arrays = infer_arrays(batches, args.infer_batches)
    calls = args.infer_calls or max(1, -(-args.steps // args.infer_batches))
    result = {"framework": args.framework, "model": args.model, "batch": args.batch,
              "infer_batches_per_call": args.infer_batches,
              "startup_s": time.perf_counter() - start, "rss_before_training_mb": rss_mb()}

    warm = timed(train_step, batches, args.warmup)
    train = timed(train_step, batches, args.steps)
    result.update(train_warmup_s=warm, train_step_s=train,
                  train_images_per_s=args.batch * args.steps / sum(train),
                  peak_rss_training_mb=peak_rss_mb())

    warm = timed_predict(predict, arrays, max(1, min(args.warmup, calls)))
    infer = timed_predict(predict, arrays, calls)
    result.update(infer_warmup_s=warm, infer_step_s=infer,
                  infer_images_per_s=len(arrays[0]) * calls / sum(infer),
                  peak_rss_mb=peak_rss_mb())

    if scratch:
        result["info"] = scratch_info()
        result["conv_algorithms"] = conv_algorithms(model)
        if args.profile_steps:
            result["profile_ms"], result["layer_profile"] = scratch_profile(
                model, batches, args.profile_steps)
    elif numpy_ml:
        result["info"] = numpy_ml_info()
    else:
        result["info"] = tf_info(model)
        result.update(tf_other_inference(model, batches, max(1, min(args.warmup, 2)), args.steps))
    result["info"].update(python=platform.python_version(), blas=blas_threads())
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
