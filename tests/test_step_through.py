"""examples/step_through.py: it computes exactly one ``train_step``, and a debugger (the standard
library's ``bdb``, the machinery under pdb and IDE debuggers) stops at breakpoints inside
Conv2D's backward, the NumPy conv kernel, and Adam's update."""

import ast
import bdb
import importlib.util
import inspect
import textwrap
from pathlib import Path

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.kernels import conv as conv_kernels
from scratchnet.layers.conv import Conv2D
from scratchnet.optimizers import Adam

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRATCHNET_CACHE_DIR", str(tmp_path / "cache"))


def load_example():
    spec = importlib.util.spec_from_file_location("step_through", ROOT / "examples" / "step_through.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def first_body_line(function) -> tuple[str, int]:
    """File and line of the first statement of ``function`` after its docstring."""
    lines, start = inspect.getsourcelines(function)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    body = tree.body[0].body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # skip the docstring
    return inspect.getsourcefile(function), start + body[0].lineno - 1


class Recorder(bdb.Bdb):
    """A debugger that notes where it stopped and continues, like pressing "Resume" each time.

    A statement spread over several lines raises a line event again when evaluation comes back to
    its first line; such a repeat in the same frame counts as the same stop.
    """

    def __init__(self):
        super().__init__()
        self.stops: list[tuple[str, int, dict]] = []
        self.last = None

    def user_line(self, frame):
        where = (self.canonic(frame.f_code.co_filename), frame.f_lineno)
        if self.last != (where, frame):
            self.stops.append((*where, dict(frame.f_locals)))
        self.last = (where, frame)
        self.set_continue()


def test_step_matches_loss_and_grads_and_train_step():
    step = load_example().one_training_step(seed=0)
    assert sn.get_backend() == "numpy"
    # A fresh model with the same seed: same weights, same dropout mask, same batch.
    model = sn.models.rps_cnn((32, 32, 3), seed=0)
    model.compile(optimizer=sn.optimizers.Adam(1e-3), loss=sn.losses.SparseCategoricalCrossentropy())
    loss, grads = model.loss_and_grads(step["x"], step["y"])
    assert step["loss"] == pytest.approx(loss, rel=1e-6)
    assert len(step["grads"]) == len(grads) == 10
    for mine, theirs in zip(step["grads"], grads, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-9)  # same float32 operations
    model.optimizer.apply(model.params)  # the update train_step would make
    for mine, theirs in zip(step["weights_after"], model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-9)
    # The named locals tell the story: shapes, and Adam's first moments after one step.
    assert step["logits"].shape == (8, 3) and step["dlogits"].shape == (8, 3)
    np.testing.assert_allclose(step["dlogits"].sum(axis=1), 0, atol=1e-6)  # softmax - onehot
    assert step["conv1_kernel_grad"].shape == (3, 3, 3, 16) and step["dx"] is None
    np.testing.assert_allclose(step["conv1_kernel_m"], 0.1 * step["conv1_kernel_grad"], rtol=1e-5)
    assert np.abs(step["conv1_kernel_step"]).max() <= 1e-3 * (1 + 1e-5)


def test_debugger_stops_in_conv_backward_kernel_and_adam_update():
    example = load_example()
    targets = {
        "Conv2D.backward_preactivation": first_body_line(Conv2D.backward_preactivation),
        "conv2d_backward_kernel (numpy)": first_body_line(conv_kernels.conv2d_backward_kernel),
        "Adam.update": first_body_line(Adam.update),
    }
    debugger = Recorder()
    for filename, line in targets.values():
        assert debugger.set_break(filename, line) is None  # None: the breakpoint was accepted
    debugger.runcall(example.one_training_step)
    hits = {name: [s for s in debugger.stops if (s[0], s[1]) == (debugger.canonic(f), line)]
            for name, (f, line) in targets.items()}
    # Three Conv2D layers, each backward once; each calls the kernel once; Adam updates 10 weights.
    assert len(hits["Conv2D.backward_preactivation"]) == 3, debugger.stops
    assert len(hits["conv2d_backward_kernel (numpy)"]) == 3
    assert len(hits["Adam.update"]) == 10
    # What the variables pane shows at those stops: the conv's dz, the parameter being updated.
    conv_locals = hits["Conv2D.backward_preactivation"][0][2]
    assert conv_locals["dz"].shape == (8, 4, 4, 64)  # conv3 first: backward runs last to first
    adam_names = [stop[2]["param"].name for stop in hits["Adam.update"]]
    assert adam_names[0] == "conv2d/kernel" and adam_names[-1] == "dense_1/bias"
