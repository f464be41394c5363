"""The README's Python examples run as written, and say what they claim."""

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks():
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def test_readme_has_its_examples():
    assert len(blocks()) >= 2


@pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`")
def test_the_course_hello_world_predicts_about_19(capsys):
    block = next(b for b in blocks() if "input_shape=[1]" in b)
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    prediction = namespace["model"].predict(np.array([10.0]), verbose=0)
    assert prediction.shape == (1, 1)
    assert 18.9 < float(prediction[0, 0]) < 19.0  # y = 2x - 1 learnt from six points: 19 at x = 10
    assert "18.9" in capsys.readouterr().out


def test_using_it_example_trains_the_digits():
    block = next(b for b in blocks() if "load_digits" in b)
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    accuracy = namespace["history"].history["accuracy"]
    assert len(accuracy) == 5 and accuracy[-1] > accuracy[0] and accuracy[-1] > 0.9
