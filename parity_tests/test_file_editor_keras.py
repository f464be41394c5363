"""sn.saving.KerasFileEditor against keras.saving.KerasFileEditor (Keras 3.15.1): both editors open
the same files (written by Keras and by scratchnet, .keras and .weights.h5) and must read the same
tree of arrays and object metadata and print the same text; ``compare`` returns and prints what
Keras' does for matching and mismatching models; edits made by one editor give files the other
framework's ``load_weights`` reads into a changed architecture, and the same edits in both editors
give the same trees; errors in Keras' wording."""

import keras
import numpy as np
import pytest

import scratchnet as sn

KE = keras.saving.KerasFileEditor
SE = sn.saving.KerasFileEditor


def _model(lib, units=(3, 2), use_bias=True, fit=True):
    layers = [lib.layers.Input((4,))]
    for k, u in enumerate(units):
        layers.append(lib.layers.Dense(u, use_bias=use_bias, name=f"d{k}"))
        if k == 0:
            layers += [lib.layers.Dropout(0.1), lib.layers.BatchNormalization()]
    model = lib.Sequential(layers)
    rng = np.random.default_rng(len(units))
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    if fit:
        model.compile(optimizer=lib.optimizers.Adam(0.01), loss="mse")
        x = rng.normal(size=(8, 4)).astype(np.float32)
        model.fit(x, rng.normal(size=(8, units[-1])).astype(np.float32), batch_size=4, verbose=0,
                  shuffle=False)
    return model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The four files, written once: Keras' and scratchnet's, .keras and .weights.h5."""
    return _files(tmp_path_factory.mktemp("saved"))


def _files(tmp_path):
    kmodel, smodel = _model(keras), _model(sn)
    paths = {"keras.keras": kmodel.save, "keras.weights.h5": kmodel.save_weights,
             "scratch.keras": smodel.save, "scratch.weights.h5": smodel.save_weights}
    for name, save in paths.items():
        save(str(tmp_path / name))
    return [str(tmp_path / name) for name in paths]


def _keras_text(capsys, fn):
    capsys.readouterr()
    result = fn()
    return result, capsys.readouterr().out.splitlines()


def _scratch_editor(path):
    lines = []
    return SE(path, print_fn=lines.append), lines


def _assert_same_tree(a, b, where=""):
    assert list(a) == list(b), (where, list(a), list(b))
    for key in a:
        if isinstance(a[key], dict):
            _assert_same_tree(a[key], b[key], f"{where}/{key}")
        else:
            assert a[key].dtype == b[key].dtype, (where, key)
            np.testing.assert_array_equal(a[key], b[key])


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # rich wraps Keras' lines at 80 columns otherwise


def test_reads_and_prints_files_as_keras_does(saved, capsys):
    for path in saved:
        keditor, ktext = _keras_text(capsys, lambda path=path: KE(path))
        seditor, stext = _scratch_editor(path)
        _assert_same_tree(seditor.weights_dict, keditor.weights_dict, path)
        assert seditor.object_metadata == {k: {a: str(v) for a, v in attrs.items()}
                                           for k, attrs in keditor.object_metadata.items()}
        assert seditor.config == keditor.config and seditor.metadata == keditor.metadata
        _, summary = _keras_text(capsys, keditor.summary)
        seditor.summary()
        assert stext[:len(ktext)] == ktext
        assert stext[len(ktext):] == summary, "\n".join(stext)
        assert len(summary) > 10


@pytest.mark.parametrize("reference", ["same", "other_units", "extra_layer", "no_bias", "not_compiled"])
def test_compare_matches_keras(saved, capsys, reference):
    path = saved[0]
    make = {"same": lambda lib: _model(lib),
            "other_units": lambda lib: _model(lib, units=(5, 2)),
            "extra_layer": lambda lib: _model(lib, units=(3, 4, 2)),
            "no_bias": lambda lib: _model(lib, use_bias=False),
            "not_compiled": lambda lib: _model(lib, fit=False)}[reference]
    keditor, _ = _keras_text(capsys, lambda: KE(path))
    kresult, ktext = _keras_text(capsys, lambda: keditor.compare(make(keras)))
    seditor, stext = _scratch_editor(path)
    del stext[:]
    sresult = seditor.compare(make(sn))
    assert sresult == kresult
    assert "\n".join(stext).splitlines() == ktext
    assert (kresult["status"] == "success") == (reference == "same")


def _edit_for_three_layers(editor, kernel, bias):
    """From d0 -> d1 (paths dense, dense_1) to d0 -> new -> d1 (dense, dense_1, dense_2), the new
    layer 3 -> 3 units."""
    editor.delete_object("optimizer")
    editor.rename_object("dense_1", "dense_2")
    editor.add_object("layers/dense_1", weights={"0": kernel, "1": bias})


@pytest.mark.parametrize("source", ["keras.keras", "scratch.keras", "keras.weights.h5", "scratch.weights.h5"])
def test_edits_load_into_a_new_architecture_in_both_frameworks(saved, tmp_path, capsys, source):
    path = next(p for p in saved if p.endswith("/" + source))
    rng = np.random.default_rng(7)
    kernel = rng.normal(size=(3, 3)).astype(np.float32)
    bias = rng.normal(size=(3,)).astype(np.float32)
    # scratchnet's editor; the result loads into Keras and into scratchnet
    seditor, _ = _scratch_editor(path)
    _edit_for_three_layers(seditor, kernel, bias)
    seditor.save(str(tmp_path / "s_edit.weights.h5"))
    # Keras' editor, the same edits: the same tree
    keditor, _ = _keras_text(capsys, lambda: KE(path))
    _edit_for_three_layers(keditor, kernel, bias)
    keditor.save(str(tmp_path / "k_edit.weights.h5"))
    _assert_same_tree(seditor.weights_dict, keditor.weights_dict)
    original = KE(path).weights_dict
    for edited in ("s_edit.weights.h5", "k_edit.weights.h5"):
        kmodel = _model(keras, units=(3, 3, 2), fit=False)
        smodel = _model(sn, units=(3, 3, 2), fit=False)
        kmodel.load_weights(str(tmp_path / edited))
        smodel.load_weights(str(tmp_path / edited))
        for ws, wk in zip(smodel.get_weights(), kmodel.get_weights(), strict=True):
            np.testing.assert_array_equal(ws, wk)
        np.testing.assert_array_equal(smodel.get_layer("d1").get_weights()[0], kernel)
        np.testing.assert_array_equal(smodel.get_layer("d2").get_weights()[0],
                                      original["layers"]["dense_1"]["0"])
        checker, _ = _scratch_editor(str(tmp_path / edited))
        assert checker.compare(smodel)["status"] == "success"


def test_keras_edits_a_scratchnet_file_and_back(saved, tmp_path, capsys):
    """Biases out (Keras' editor) for a use_bias=False model in scratchnet; then biases back
    in (scratchnet's editor) for Keras."""
    path = saved[3]  # scratch.weights.h5
    keditor, _ = _keras_text(capsys, lambda: KE(path))
    keditor.delete_weight("layers/dense", "1")
    keditor.delete_weight("layers/dense_1", "1")  # (a bare name followed by other objects
    # counts twice in Keras' editor: "occurs more than once")
    keditor.delete_object("optimizer")
    keditor.save(str(tmp_path / "nobias.weights.h5"))
    smodel = _model(sn, use_bias=False, fit=False)
    smodel.load_weights(str(tmp_path / "nobias.weights.h5"))
    np.testing.assert_array_equal(smodel.get_layer("d0").get_weights()[0],
                                  keditor.weights_dict["layers"]["dense"]["0"])
    seditor, _ = _scratch_editor(str(tmp_path / "nobias.weights.h5"))
    zeros = {"1": np.zeros(3, np.float32)}
    seditor.add_weights("layers/dense", zeros)
    seditor.add_weights("dense_1", {"1": np.full(2, 0.5, np.float32)})
    seditor.save(str(tmp_path / "bias.weights.h5"))
    kmodel = _model(keras, fit=False)
    kmodel.load_weights(str(tmp_path / "bias.weights.h5"))
    np.testing.assert_array_equal(kmodel.get_layer("d1").get_weights()[1], np.full(2, 0.5, np.float32))
    assert seditor.compare(_model(sn, fit=False))["status"] == "success"


ERRORS = {
    "extension": lambda E, p: E(p.replace(".weights.h5", ".h5")),
    "path_not_found": lambda E, p: E(p).delete_object("layers/nope"),
    "leaf_not_found": lambda E, p: E(p).rename_object("nope", "other"),
    "name_twice": lambda E, p: E(p).delete_object("1"),
    "bare_name_before_optimizer": lambda E, p: E(p).rename_object("dense_1", "other"),
    "target_path": lambda E, p: E(p).rename_object("dense", "layers/dense_9"),
    "weights_not_dict": lambda E, p: E(p).add_object("layers/new", [np.zeros(2)]),
    "add_weights_not_dict": lambda E, p: E(p).add_weights("dense", np.zeros(2)),
    "add_object_bad_parent": lambda E, p: E(p).add_object("nope/new", {"0": np.zeros(2)}),
    "delete_missing_weight": lambda E, p: E(p).delete_weight("dense", "7"),
    "save_extension": lambda E, p: E(p).save(p.replace(".weights.h5", ".keras")),
}


@pytest.mark.parametrize("what", sorted(ERRORS))
def test_errors_in_keras_wording(saved, capsys, what):
    path = saved[1]  # keras.weights.h5
    with pytest.raises(Exception) as kerr:
        ERRORS[what](KE, path)
    with pytest.raises(Exception) as serr:
        ERRORS[what](lambda p: SE(p, print_fn=lambda *a: None), path)
    assert serr.type is kerr.type
    assert str(serr.value) == str(kerr.value)
