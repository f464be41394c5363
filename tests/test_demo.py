"""The main job (``python -m demo``): flags, the epoch table, and (slow) a tiny end-to-end run that
writes every figure, with and without TensorFlow."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from demo.__main__ import epoch_table, parse_args

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("curves.png", "confusion_matrix.png", "predictions.png", "first_layer_filters.png",
           "feature_maps.png", "hand_set_filters.png")
TINY = ["--epochs", "2", "--image-size", "24", "--num-train", "30", "--num-test", "12", "--batch-size", "10"]


def test_defaults_and_flags():
    args = parse_args([])
    assert (args.epochs, args.image_size, args.impl, args.seed, args.batch_size) == (20, 32, "both", 0, 16)
    args = parse_args(["--epochs", "3", "--image-size", "64", "--backend", "numpy", "--impl", "scratch",
                       "--out", "x", "--seed", "4", "--no-baseline"])
    assert (args.epochs, args.image_size, args.backend, args.impl, str(args.out), args.seed,
            args.baseline) == (3, 64, "numpy", "scratch", "x", 4, False)


@pytest.mark.parametrize("flags", [["--image-size", "16"], ["--image-size", "151"], ["--epochs", "0"],
                                   ["--impl", "torch"], ["--backend", "cuda"]])
def test_bad_flags_are_refused(flags, capsys):
    with pytest.raises(SystemExit) as exc:
        parse_args(flags)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_epoch_table():
    h = {"loss": [1.0, 0.5], "accuracy": [0.4, 0.8], "val_loss": [0.9, 0.4], "val_accuracy": [0.5, 0.9]}
    table = epoch_table({"scratchnet": h, "keras": h}).splitlines()
    assert "scratchnet" in table[0] and "keras" in table[0]
    assert table[1].split().count("val_acc") == 2
    assert table[-1].split() == ["2", "0.5000", "0.8000", "0.4000", "0.9000", "|",
                                 "0.5000", "0.8000", "0.4000", "0.9000"]


def run_demo(args, tmp_path, block_tensorflow=False):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRATCHNET_CACHE_DIR": str(tmp_path / "cache"),
           "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "MPLBACKEND": "Agg"}
    if block_tensorflow:  # as if TensorFlow were not installed
        code = ("import sys\n"
                "class Block:\n"
                "    def find_spec(self, name, path=None, target=None):\n"
                "        if name.split('.')[0] in ('tensorflow', 'keras'):\n"
                "            raise ImportError(f'No module named {name!r}')\n"
                "sys.meta_path.insert(0, Block())\n"
                "from demo.__main__ import main\n"
                "sys.exit(main(sys.argv[1:]))\n")
        command = [sys.executable, "-c", code, *args]
    else:
        command = [sys.executable, "-m", "demo", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def check_run_folder(out: Path, implementations):
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["results"]) == set(implementations) | {"dense-only"}
    for name in implementations:
        assert len(summary["histories"][name]["val_accuracy"]) == 2
        assert 0 <= summary["results"][name]["test_accuracy"] <= 1
    assert "untrained rps_cnn: test accuracy" in (out / "table.txt").read_text()


@pytest.mark.slow
def test_tiny_end_to_end_run_both(tmp_path):
    pytest.importorskip("tensorflow")
    out = tmp_path / "run"
    result = run_demo([*TINY, "--out", str(out)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout
    assert "== scratchnet" in text and "== Keras" in text and "== dense-only" in text
    assert "Epoch 2/2" in text + result.stderr  # the progress bars
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("epoch "))
    assert "scratchnet" in lines[header] and "keras" in lines[header]
    assert lines[header + 4].split()[0] == "2" and lines[header + 4].count("|") == 1
    assert "keras:" in text and "Keras - scratchnet:" in text
    check_run_folder(out, ["scratchnet", "keras"])


@pytest.mark.slow
def test_tiny_run_without_tensorflow_runs_scratchnet_only(tmp_path):
    out = tmp_path / "run"
    result = run_demo([*TINY, "--out", str(out), "--backend", "numpy"], tmp_path, block_tensorflow=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "TensorFlow/Keras is not installed: running scratchnet only" in result.stdout
    assert "== Keras" not in result.stdout
    check_run_folder(out, ["scratchnet"])
    only_keras = run_demo([*TINY, "--impl", "keras", "--out", str(out)], tmp_path, block_tensorflow=True)
    assert only_keras.returncode == 2 and "needs TensorFlow" in only_keras.stderr
