import os
import subprocess
import sys


def test_import_does_not_pull_in_tensorflow():
    code = "import sys, scratchnet; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_a_bad_backend_variable_is_named_in_the_error():
    code = "import scratchnet"
    env = {**os.environ, "SCRATCHNET_BACKEND": "foo"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode != 0
    assert "environment variable SCRATCHNET_BACKEND='foo'" in out.stderr
    assert "expected one of ('numpy', 'numba', 'cupy'), received 'foo'" in out.stderr
