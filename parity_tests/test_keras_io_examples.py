"""examples/keras_io/: Keras' own example programs, written once for both libraries (only the
``import`` differs), run here with small settings. From the same initial weights (``--start-weights``,
saved by the scratchnet run) and the same batch order (``--no-shuffle``), the two implementations'
training and validation losses agree epoch by epoch to GRAD_RTOL (parity_tests/driver.py, as in
test_fit.py: each epoch's loss is a mean of float32 batch losses after steps that each add a
gradient-sized rounding). Each program runs in this process (``runpy``, as its command line would);
its module globals are the outcome."""

import ast
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

from parity_tests.driver import GRAD_RTOL, assert_close

PROGRAMS = Path(__file__).resolve().parents[1] / "examples" / "keras_io"
CASES = {  # program: (small flags, the history's training key)
    # SGD: a bias before ReLU, pooling and BatchNormalization gets a gradient of rounding noise
    # where the pooled maxima are all positive (BatchNormalization removes a constant), which
    # Adam's division by its own size would turn into whole steps (docs/parity-notes.md)
    "ct_scan_3d": (["--scans", "24", "--size", "16", "--filters", "4,4,4,8", "--dense", "8",
                    "--epochs", "3", "--dropout", "0", "--optimizer", "sgd", "--batch-size", "4"], "loss"),
    "bidirectional_lstm_imdb": (["--train-size", "160", "--val-size", "64", "--epochs", "3", "--maxlen", "12",
                                 "--embed-dim", "8", "--units", "6", "--optimizer", "sgd"], "loss"),
    "char_seq2seq": (["--samples", "300", "--epochs", "3", "--latent-dim", "16", "--decode", "3"], "loss"),
    "seq2seq_addition": (["--questions", "600", "--epochs", "2", "--units", "16"], "loss"),
    "denoising_autoencoder": (["--epochs", "3", "--filters", "8"], "loss"),
    "image_classification_from_scratch": (["--images", "24", "--file-size", "20", "--image-size", "16",
                                           "--filters", "4,8,8,8", "--epochs", "3", "--dropout", "0",
                                           "--no-augment", "--batch-size", "16", "--folder", "."], "loss"),
    "mnist_convnet": (["--train-size", "300", "--epochs", "3", "--filters", "4,8", "--dropout", "0",
                       "--batch-size", "64"], "loss"),
    "structured_data_classification": (["--rows", "300", "--epochs", "3", "--units", "8", "--dropout", "0"],
                                       "loss"),
    "super_resolution": (["--images", "10", "--epochs", "3", "--filters", "8"], "loss"),
    # 4 epochs: each Conv1D bias (before BatchNormalization) gets a gradient of rounding noise, which
    # Adam turns into steps of its own; the moving means follow the biases, so val_loss drifts
    # (measured 1.2e-4 apart after 6 epochs with --seed 1, every other weight within 1e-6)
    "timeseries_classification": (["--series", "120", "--length", "32", "--epochs", "4", "--filters", "8",
                                   "--lr-patience", "1", "--stop-patience", "10"], "loss"),
    # SGD: as ct_scan_3d (every convolution's bias before BatchNormalization)
    "oxford_pets_segmentation": (["--images", "40", "--file-size", "20", "--img-size", "16", "--val-samples",
                                  "8", "--filters", "4,8", "--epochs", "3", "--optimizer", "sgd",
                                  "--learning-rate", "0.05", "--batch-size", "16", "--folder", "."], "loss"),
    "vision_transformer": (["--train-size", "64", "--test-size", "32", "--epochs", "2", "--dropout", "0",
                            "--no-augment", "--batch-size", "32", "--transformer-layers", "1",
                            "--mlp-head-units", "16"], "loss"),
    "antirectifier": (["--train-size", "300", "--epochs", "3", "--units", "32", "--dropout", "0",
                       "--batch-size", "64"], "loss"),
    "timeseries_transformer": (["--series", "120", "--length", "24", "--epochs", "3", "--head-size",
                                "8", "--dropout", "0", "--mlp-dropout", "0", "--batch-size", "32"],
                               "loss"),
    # SGD: Keras' Adam squares a repeated word's gradient slices apart (docs/parity-notes.md)
    "text_classification_from_scratch": (["--train-size", "200", "--val-size", "64", "--epochs", "3",
                                          "--sequence-length", "40", "--max-features", "200",
                                          "--embedding-dim", "8", "--filters", "8", "--dropout", "0",
                                          "--optimizer", "sgd"], "loss"),
    "timeseries_weather_forecasting": (["--days", "12", "--past", "72", "--future", "12", "--units", "8",
                                        "--epochs", "3", "--batch-size", "64", "--checkpoint",
                                        "ckpt.weights.h5"], "loss"),
    # SGD: Keras' Adam squares a repeated id's gradient slices apart (docs/parity-notes.md)
    "collaborative_filtering_movielens": (["--users", "40", "--movies", "60", "--ratings-per-user", "15",
                                           "--embedding-size", "8", "--epochs", "3", "--optimizer", "sgd"],
                                          "loss"),
    # SGD: Keras' Adam squares a repeated word's gradient slices apart (docs/parity-notes.md)
    "text_generation_gpt": (["--texts", "64", "--vocab-size", "60", "--maxlen", "10", "--embed-dim", "8",
                             "--ff-dim", "8", "--dropout", "0", "--epochs", "2", "--batch-size", "32",
                             "--optimizer", "sgd", "--generate", "3"], "loss"),
    "lstm_character_level_text_generation": (["--texts", "20", "--maxlen", "10", "--step", "5", "--units",
                                              "8", "--epochs", "2", "--batch-size", "64", "--generate",
                                              "1"], "loss"),
    "text_classification_transformer": (["--train-size", "200", "--val-size", "64", "--epochs", "3",
                                         "--maxlen", "12", "--embed-dim", "8", "--ff-dim", "8",
                                         "--dropout", "0", "--optimizer", "sgd"], "loss"),
}

# What else each program computes that must agree (its module globals; "history.KEY" for a
# history entry): evaluate's [loss, accuracy]; the best checkpoint's test loss and
# ReduceLROnPlateau's rates; the score of a file read with load_img; the end-to-end model's
# probability for a dict of raw columns through the FeatureSpace; the segmentation's per-pixel
# probabilities from its best checkpoint; the ViT's [loss, accuracy, top-5 accuracy] on test images;
# the weather model's predictions from its best checkpoint; the recommender's predicted ratings
# of one user's unwatched movies (each depends on its batch of 32: ops.tensordot(u, m, 2) is one
# number per batch); the character LSTM's loss of every epoch (one fit per epoch, as its example
# runs them).
ALSO = {
    "mnist_convnet": ("score",),
    "timeseries_classification": ("test_loss", "history.learning_rate"),
    "image_classification_from_scratch": ("score",),
    "structured_data_classification": ("predictions",),
    "text_classification_from_scratch": ("test_loss", "raw_loss"),
    "oxford_pets_segmentation": ("val_preds",),
    "vision_transformer": ("score",),
    "antirectifier": ("score",),
    "timeseries_weather_forecasting": ("predictions",),
    "collaborative_filtering_movielens": ("ratings",),
    "lstm_character_level_text_generation": ("losses",),
}


def run(name: str, impl: str, *flags: str, monkeypatch) -> dict:
    path = PROGRAMS / f"{name}.py"
    monkeypatch.setattr(sys, "argv", [str(path), "--impl", impl, "--verbose", "0", *flags])
    return runpy.run_path(str(path), run_name="__main__")


@pytest.mark.parametrize("name", sorted([*CASES, "knowledge_distillation"]))
def test_the_only_difference_is_the_import(name):
    tree = ast.parse((PROGRAMS / f"{name}.py").read_text())
    switches = [node for node in tree.body
                if isinstance(node, ast.If) and "args.impl" in ast.unparse(node.test)]
    assert len(switches) == 1
    assert [ast.unparse(s) for s in switches[0].body] == ["import keras as K"]
    assert [ast.unparse(s) for s in switches[0].orelse] == ["import scratchnet as K"]
    lines = [ast.unparse(node) for node in ast.walk(tree) if isinstance(node, ast.Call)]
    assert not any("keras." in line or "tensorflow" in line for line in lines)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_same_start_same_numbers(name, tmp_path, monkeypatch):
    flags, key = CASES[name]
    monkeypatch.chdir(tmp_path)  # what a program writes (ct_scan_3d's checkpoint) goes there
    start = str(tmp_path / "start.npz")
    scratch = run(name, "scratch", *flags, "--no-shuffle", "--save-start-weights", start,
                  monkeypatch=monkeypatch)
    keras = run(name, "keras", *flags, "--no-shuffle", "--start-weights", start,
                monkeypatch=monkeypatch)
    history_s, history_k = scratch["history"].history, keras["history"].history
    assert_close(history_s[key], history_k[key], GRAD_RTOL, f"{name}: training loss per epoch")
    if "val_loss" in history_k:  # (the text generators have no validation data, as in Keras' examples)
        assert_close(history_s["val_loss"], history_k["val_loss"], GRAD_RTOL, f"{name}: val_loss per epoch")
    assert np.all(np.isfinite(history_s[key]))
    for also in ALSO.get(name, ()):
        if also.startswith("history."):
            got, want = history_s[also[8:]], history_k[also[8:]]
        else:
            got, want = scratch[also], keras[also]
        assert_close(got, want, GRAD_RTOL, f"{name}: {also}")


@pytest.mark.slow
def test_knowledge_distillation_same_start_same_numbers(tmp_path, monkeypatch):
    """knowledge_distillation.py has no validation data: its three fits (the teacher, the
    Distiller, the student from scratch) are compared by their training losses and accuracies, then
    the three evaluate scores and how far the distillation moved the teacher."""
    flags = ["--train-size", "96", "--teacher-filters", "8,8", "--student-filters", "4,4",
             "--teacher-epochs", "2", "--epochs", "2", "--no-shuffle"]
    monkeypatch.chdir(tmp_path)
    start = str(tmp_path / "start.npz")
    scratch = run("knowledge_distillation", "scratch", *flags, "--save-start-weights", start,
                  monkeypatch=monkeypatch)
    keras = run("knowledge_distillation", "keras", *flags, "--start-weights", start, monkeypatch=monkeypatch)
    for history in ("teacher_history", "history", "scratch_history"):
        for key in ("loss", "sparse_categorical_accuracy"):
            assert_close(scratch[history].history[key], keras[history].history[key], GRAD_RTOL,
                         f"{history}: {key} per epoch")
    for score in ("teacher_score", "distiller_score", "scratch_score", "teacher_moved"):
        assert_close(scratch[score], keras[score], GRAD_RTOL, score)
    assert scratch["teacher_moved"] > 1e-4
