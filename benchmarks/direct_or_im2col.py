"""``python benchmarks/direct_or_im2col.py``: on the Numba backend, small_cnn and rps_cnn with their
16-channel layers on the direct loops (the rule, ``kernels.DIRECT_FILTERS``) against the same
layers on im2col (``DIRECT_FILTERS`` emptied; the RGB first layers keep their direct loops and the
32-channel layers Winograd either way), in one process, the two interleaved (their order
alternates each repeat) so both see the same machine load.

Prints images/s, median over the repeats, for a training step (``train_step``) and for ``predict``
on 4 batches. On CPUs without AVX-512 (256-bit vectors) the direct loops once lost here, and
predict ran im2col for a while (kernels/__init__.py says why that changed).

    python benchmarks/direct_or_im2col.py --batch 32 256 --repeats 5
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from datetime import UTC, datetime

import numpy as np

import scratchnet as sn
from scratchnet import kernels
from scratchnet.kernels import numba_kernels
from scratchnet.models import rps_cnn, small_cnn

MODELS = {"small_cnn": (small_cnn, (32, 32, 3)), "rps_cnn": (rps_cnn, (64, 64, 3))}


def _rate(fn, images: int, min_seconds: float) -> float:
    """Images per second of ``fn`` (one call handles ``images``), over at least ``min_seconds``."""
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return images * calls / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="timed seconds per measurement")
    args = parser.parse_args()
    sn.set_backend("numba")
    rules = {"direct (the rule)": kernels.DIRECT_FILTERS, "im2col": ()}  # kernels.DIRECT_FILTERS
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} logical cores, "
          f"AVX-512: {numba_kernels.has_512_bit_vectors()}, load average before {os.getloadavg()}")
    rng = np.random.default_rng(0)
    for batch in args.batch:
        for name, (make, shape) in MODELS.items():
            model = make()
            model.compile(optimizer=sn.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
            x = rng.random((batch, *shape), dtype=np.float32)
            y = rng.integers(0, 3, batch)
            x_predict = rng.random((4 * batch, *shape), dtype=np.float32)
            train_step = functools.partial(model.train_step, x, y)
            predict = functools.partial(model.predict, x_predict, batch_size=batch, verbose=0)
            rates = {rule: [] for rule in rules}
            for repeat in range(args.repeats + 1):  # the first: warm-up (compiling), not counted
                order = list(rules) if repeat % 2 == 0 else list(rules)[::-1]
                for rule in order:
                    kernels.DIRECT_FILTERS = rules[rule]
                    train = _rate(train_step, batch, args.seconds)
                    infer = _rate(predict, 4 * batch, args.seconds)
                    if repeat:
                        rates[rule].append((train, infer))
            kernels.DIRECT_FILTERS = rules["direct (the rule)"]
            for rule, values in rates.items():
                train, infer = np.median(np.array(values), axis=0)
                print(f"{name} batch {batch}, {rule}: train {train:.0f} img/s, predict {infer:.0f} img/s")
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
