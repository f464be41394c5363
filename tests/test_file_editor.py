"""sn.saving.KerasFileEditor on scratchnet's own files (Keras' side: parity_tests/
test_file_editor_keras.py): the tree it reads, edits that load into a changed model, what it
prints, and the files and arguments it refuses."""

import h5py
import numpy as np
import pytest

import scratchnet as sn

E = sn.saving.KerasFileEditor


def _model(units=(3, 2), seed=0):
    model = sn.Sequential([sn.layers.Input((4,))] + [sn.layers.Dense(u) for u in units], seed=seed)
    model.compile(optimizer="sgd", loss="mse")
    return model


def _editor(path):
    lines = []
    return E(path, print_fn=lines.append), lines


def test_reads_the_tree_scratchnet_writes(tmp_path):
    model = _model()
    model.save(tmp_path / "m.keras")
    editor, lines = _editor(tmp_path / "m.keras")
    assert list(editor.weights_dict) == ["layers", "optimizer"]
    np.testing.assert_array_equal(editor.weights_dict["layers"]["dense_1"]["0"], model.layers[1].kernel.value)
    assert editor.object_metadata["/layers/dense"] == {"name": "dense"}
    assert editor.config["class_name"] == "Sequential"
    assert lines[0] == f"Keras model file '{tmp_path / 'm.keras'}'"
    assert lines[1].startswith("Saved with Keras 3.15.1 - date: ")
    editor.summary()
    assert lines[2:5] == ["Weights structure", "  > layers", "  │   ├─ dense"]
    assert "  │   │   ├─ 0: shape=(4, 3), dtype=float32" in lines


def test_edit_save_and_load_into_a_wider_model(tmp_path):
    model = _model()
    model.save_weights(tmp_path / "m.weights.h5")
    editor, _ = _editor(tmp_path / "m.weights.h5")
    editor.delete_object("optimizer")
    editor.rename_object("dense_1", "dense_2")
    new_kernel = np.full((3, 3), 0.25, np.float32)
    editor.add_object("layers/dense_1", {"0": new_kernel, "1": np.zeros(3, np.float32)})
    wider = _model(units=(3, 3, 2), seed=5)
    assert editor.compare(wider)["status"] == "error"  # the optimizer is gone from the file
    editor.save(tmp_path / "wider.weights.h5")
    wider.load_weights(tmp_path / "wider.weights.h5")
    np.testing.assert_array_equal(wider.layers[1].kernel.value, new_kernel)
    np.testing.assert_array_equal(wider.layers[2].kernel.value, model.layers[1].kernel.value)
    with h5py.File(tmp_path / "wider.weights.h5") as f:
        assert sorted(f["layers"]) == ["dense", "dense_1", "dense_2"] and "optimizer" not in f


def test_compare_reports_every_difference(tmp_path):
    _model().save_weights(tmp_path / "m.weights.h5")
    editor, lines = _editor(tmp_path / "m.weights.h5")
    del lines[:]
    result = editor.compare(_model(units=(5, 2)))
    assert result["status"] == "error" and result["error_count"] > 0
    assert "...Weight shape mismatch for /layers/dense/0\n    In reference model: shape=(4, 5)\n" \
           "    In saved file: shape=(4, 3)" in lines
    assert lines[-1].startswith(f"Found {result['error_count']} errors: saved file is not compatible")
    with pytest.raises(ValueError, match="not built yet"):
        editor.compare(sn.Sequential([sn.layers.Dense(2)]))
    with pytest.raises(TypeError, match="expected a scratchnet model"):
        editor.compare("model")


def test_refuses_links_and_bad_arguments(tmp_path):
    _model().save_weights(tmp_path / "m.weights.h5")
    with h5py.File(tmp_path / "m.weights.h5", "a") as f:
        f["layers/alias"] = h5py.SoftLink("/layers/dense")
    with pytest.raises(ValueError, match="Not allowed: H5 file with SoftLink"):
        E(tmp_path / "m.weights.h5", print_fn=lambda *a: None)
    with pytest.raises(TypeError, match="expected filepath to be a path"):
        E(3)
    _model().save_weights(tmp_path / "ok.weights.h5")
    editor, _ = _editor(tmp_path / "ok.weights.h5")
    with pytest.raises(TypeError, match="expected the object's name or path as a string"):
        editor.delete_object(None)
    with pytest.raises(ValueError, match="Weight 5 not found in object layers/dense. Weights found"):
        editor.delete_weight("layers/dense", "5")
