import subprocess
import sys


def test_import_does_not_pull_in_tensorflow():
    code = "import sys, scratchnet; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
