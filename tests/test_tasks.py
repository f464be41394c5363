"""tasks.py, the README's two commands: the test command runs pytest on every core unless told."""

import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("tasks", Path(__file__).resolve().parents[1] / "tasks.py")
tasks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tasks)


@pytest.mark.parametrize("args", [[], ["tests/test_model.py", "-k", "fit"], ["-m", "not slow"],
                                  ["--no-header", "-q"]])
def test_the_test_command_uses_every_core_by_default(args):
    assert tasks._parallel(args) == ["-n", "auto"]


@pytest.mark.parametrize("args", [["-n", "0"], ["-n2"], ["--numprocesses=3"], ["-p", "no:xdist"],
                                  ["--pdb"], ["--trace", "tests/test_model.py"]])
def test_a_chosen_worker_count_or_a_debugger_keeps_pytest_as_asked(args):
    assert tasks._parallel(args) == []
