"""scratchnet/kernels/memory.py: glibc's malloc keeps freed memory for the next step. Checked by
its effect, in fresh processes (the setting is made once, at import): the page faults of NumPy
training steps (a fresh 4 KiB page each), with and without it, and who may turn it off."""

import json
import os
import subprocess
import sys

import pytest

STEPS = """
import json, resource
import numpy as np
import scratchnet as sn
model = sn.models.small_cnn()
model.compile(optimizer="adam", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
rng = np.random.default_rng(0)
x, y = rng.random((32, 32, 32, 3), dtype=np.float32), rng.integers(0, 3, 32)
for _ in range(3):
    model.train_step(x, y)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    model.train_step(x, y)
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20
print(json.dumps({"keeps": sn.kernels.memory.KEEPS_FREED_MEMORY, "faults": faults,
                  "backend": sn.get_backend()}))
"""


def _run(**env):
    environ = {k: v for k, v in os.environ.items()
               if k not in ("SCRATCHNET_KEEP_FREED_MEMORY", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")}
    # the NumPy backend from the start, as the benchmark's workers run it (set_backend makes the
    # setting for either CPU backend; SCRATCHNET_KEEP_FREED_MEMORY=0 stops it for both)
    environ.update(env, SCRATCHNET_NUMPY_THREADS="2", SCRATCHNET_BACKEND="numpy")
    out = subprocess.run([sys.executable, "-c", STEPS], env=environ, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_kept_memory_spares_the_page_faults_of_each_numpy_step():
    kept, plain = _run(), _run(SCRATCHNET_KEEP_FREED_MEMORY="0")
    assert kept["backend"] == plain["backend"] == "numpy"
    assert kept["keeps"] is True and plain["keeps"] is False
    # measured here: ~1,400 faults a step without (5.6 MB of fresh pages), under 20 with
    assert plain["faults"] > 300, plain
    assert kept["faults"] < plain["faults"] / 10, (kept, plain)


def test_the_users_own_malloc_settings_stand():
    assert _run(MALLOC_TRIM_THRESHOLD_="1048576")["keeps"] is False
