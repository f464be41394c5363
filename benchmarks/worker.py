"""One measurement in its own process: one framework, one model; prints one ``RESULT {json}`` line.

A fresh process per measurement keeps the frameworks apart (TensorFlow's thread pools and memory
never meet NumPy's) and makes the peak memory (``ru_maxrss``) that of this framework alone.
The parent (``python -m benchmarks``) chooses the backend through the environment before this
module imports anything: ``SCRATCHNET_BACKEND`` for scratchnet, ``CUDA_VISIBLE_DEVICES`` and
``TF_ENABLE_ONEDNN_OPTS`` for TensorFlow.

Phases, each timed on its own: build -> warm-up training steps (Numba compiles or loads its cache,
``tf.function`` traces) -> steady-state training steps -> warm-up inference -> steady-state
inference. The scratch side trains with ``model.train_step(x, y)`` and infers with
``model.predict(x, batch_size=len(x))``; the TensorFlow side with ``model.train_on_batch(x, y)``
and ``model.predict_on_batch(x)`` after the default ``model.compile`` (``jit_compile="auto"``,
which Keras resolves to no XLA on a machine without a GPU).
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
    return model, model.train_step, lambda x, y: model.predict(x, batch_size=len(x))


def scratch_info() -> dict:
    import scratchnet as sn

    info = {"backend": sn.get_backend(), "numpy": np.__version__}
    if sn.get_backend() == "numba":
        import numba

        info.update(numba=numba.__version__, numba_threads=numba.get_num_threads(),
                    numba_threading_layer=numba.threading_layer())
    return info


def scratch_profile(model, batches, steps: int) -> dict:
    """Milliseconds per training step in each kernel (Dense's products are ``matmul``), in the
    optimizer, and everything else (activations, loss, Python), from ``steps`` extra steps."""
    from scratchnet import kernels

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
        kernels._impl[name] = timer(name, fn)
    model.optimizer.apply = timer("Adam update", model.optimizer.apply)
    total = sum(timed(model.train_step, batches, steps))
    kernels._impl.update(saved)
    model.optimizer.__dict__.pop("apply", None)
    profile = {name: 1e3 * t / steps for name, t in sorted(spent.items(), key=lambda kv: -kv[1])}
    profile["everything else"] = 1e3 * (total - sum(spent.values())) / steps
    profile["total step"] = 1e3 * total / steps
    return profile


# ------------------------------------------------------------------------------------ tensorflow


def tf_runner(model_name: str):
    import keras

    import tfnet.models

    shape, softmax = MODELS[model_name]
    model = getattr(tfnet.models, SCRATCH_BUILDERS[model_name])(input_shape=shape)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not softmax))
    return model, model.train_on_batch, lambda x, y: model.predict_on_batch(x)


def tf_info(model) -> dict:
    import keras
    import tensorflow as tf

    threading = tf.config.threading
    return {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
            "tf_intra_op_threads": threading.get_intra_op_parallelism_threads(),
            "tf_inter_op_threads": threading.get_inter_op_parallelism_threads(),
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset: TF default)"),
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
            "jit_compile": bool(model.jit_compile)}


def tf_function_inference(model, batches, warmup: int, steps: int) -> float:
    """Images/s of ``tf.function(model)(x, training=False)``: inference without Keras' per-call
    ``predict_on_batch`` overhead, a best case for TensorFlow."""
    import tensorflow as tf

    call = tf.function(lambda x: model(x, training=False))
    timed(lambda x, y: call(x).numpy(), batches, warmup)
    times = timed(lambda x, y: call(x).numpy(), batches, steps)
    return len(batches[0][0]) * steps / sum(times)


# ------------------------------------------------------------------------------------ main


def blas_threads() -> list:
    try:
        import threadpoolctl
    except ImportError:
        return []
    return [{"library": i.get("internal_api"), "threads": i.get("num_threads")}
            for i in threadpoolctl.threadpool_info()]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", required=True,
                        choices=["scratch-numpy", "scratch-numba", "tf-cpu", "tf-gpu"])
    parser.add_argument("--model", required=True, choices=list(MODELS))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--profile-steps", type=int, default=0)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    scratch = args.framework.startswith("scratch")
    model, train_step, infer_step = (scratch_runner if scratch else tf_runner)(args.model)
    batches = make_batches(args.model, args.batch)
    result = {"framework": args.framework, "model": args.model, "batch": args.batch,
              "startup_s": time.perf_counter() - start, "rss_before_training_mb": rss_mb()}

    warm = timed(train_step, batches, args.warmup)
    train = timed(train_step, batches, args.steps)
    result.update(train_warmup_s=warm, train_step_s=train,
                  train_images_per_s=args.batch * args.steps / sum(train),
                  peak_rss_training_mb=peak_rss_mb())

    warm = timed(infer_step, batches, args.warmup)
    infer = timed(infer_step, batches, args.steps)
    result.update(infer_warmup_s=warm, infer_step_s=infer,
                  infer_images_per_s=args.batch * args.steps / sum(infer),
                  peak_rss_mb=peak_rss_mb())

    if scratch:
        result["info"] = scratch_info()
        if args.profile_steps:
            result["profile_ms"] = scratch_profile(model, batches, args.profile_steps)
    else:
        result["info"] = tf_info(model)
        result["infer_tf_function_images_per_s"] = tf_function_inference(
            model, batches, args.warmup, args.steps)
    result["info"].update(python=platform.python_version(), blas=blas_threads())
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
