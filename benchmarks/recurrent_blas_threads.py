"""LSTM training and inference, scratchnet against Keras, in samples per second: the measurement
behind ``_Recurrent.STEP_BLAS_ONE_THREAD_FLOPS`` (scratchnet/layers/recurrent.py).

    python -m benchmarks.recurrent_blas_threads            # as the machine is
    OPENBLAS_NUM_THREADS=1 python -m benchmarks.recurrent_blas_threads

Run it on an idle machine and with other work on every core: the step loop's small products
are where OpenBLAS' threads lose most when the cores are busy.
"""

import time

import numpy as np


def main() -> None:
    import keras

    import scratchnet as sn

    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 40, 16)).astype("float32")
    y = rng.integers(0, 3, 512)
    for name, lib in (("scratchnet", sn), ("keras", keras)):
        model = lib.Sequential([lib.layers.Input((40, 16)), lib.layers.LSTM(64), lib.layers.Dense(3)])
        model.compile(optimizer="adam", loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0)  # compile, warm up
        start = time.perf_counter()
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        fit = len(x) / (time.perf_counter() - start)
        start = time.perf_counter()
        model.predict(x, batch_size=256, verbose=0)
        predict = len(x) / (time.perf_counter() - start)
        print(f"{name:10s} fit {fit:6.0f} samples/s   predict {predict:6.0f} samples/s", flush=True)


if __name__ == "__main__":
    main()
