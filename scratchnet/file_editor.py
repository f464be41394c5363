"""``KerasFileEditor``: look inside a ``.keras`` or ``.weights.h5`` file and edit its weights.

Keras 3.15.1's ``keras.saving.KerasFileEditor`` (``keras/src/saving/file_editor.py``), on the files
scratchnet writes (:mod:`scratchnet.saving_keras`) and the ones Keras writes, which share one
layout: an HDF5 tree where each object (a layer, the optimizer) is a group whose ``vars``
subgroup holds its arrays, named ``"0"``, ``"1"``, ... in the object's own weight order::

    layers/dense/vars/0      (4, 3)  kernel        -> weights_dict["layers"]["dense"]["0"]
    layers/dense/vars/1      (3,)    bias
    optimizer/vars/0         ()      iterations

The editor reads that tree into ``weights_dict``, nested dicts of NumPy arrays with each ``vars``
level folded into its object (objects without arrays left out), and ``object_metadata``, the
attributes of each ``vars`` group (the layer's ``name``) keyed ``"/layers/dense"``. Edits change
``weights_dict``; :meth:`KerasFileEditor.save` writes it as a new ``.weights.h5`` file, which
``model.load_weights`` reads in either framework.

What it prints is Keras' text without the colours (Keras prints through ``rich``).
"""

from __future__ import annotations

import json
import math
import os
import zipfile

import h5py
import numpy as np

_MAX_BYTES = 1 << 32  # Keras' limit for one array read from a file: 4 GiB


class KerasFileEditor:
    """Inspect, edit and resave the weights of a ``.keras`` or ``.weights.h5`` file.

    ::

        editor = KerasFileEditor("my_model.weights.h5")
        editor.summary()                                   # the tree of objects and arrays
        editor.delete_object("layers/dense_2")             # a layer's arrays out
        editor.add_object("layers/einsum_dense", weights={"0": kernel, "1": bias})
        editor.save("edited_model.weights.h5")

    Attributes: ``filepath``, ``config`` and ``metadata`` (a ``.keras`` file's ``config.json`` and
    ``metadata.json``, else None), ``weights_dict``, ``object_metadata``.
    """

    def __init__(self, filepath, print_fn=print):
        if not isinstance(filepath, str | os.PathLike):
            raise TypeError("KerasFileEditor: expected filepath to be a path (str or os.PathLike), "
                            f"received {filepath!r} of type {type(filepath).__name__}")
        self.filepath = os.fspath(filepath)
        self.metadata = None
        self.config = None
        self.model = None
        self.print_fn = print_fn
        if self.filepath.endswith(".keras"):
            from scratchnet.saving_keras import CONFIG_FILE, METADATA_FILE, WEIGHTS_FILE

            with zipfile.ZipFile(self.filepath, "r") as archive:
                weights = archive.read(WEIGHTS_FILE)
                self.config = json.loads(archive.read(CONFIG_FILE))
                self.metadata = json.loads(archive.read(METADATA_FILE))
            import io

            source = io.BytesIO(weights)
        elif self.filepath.endswith(".weights.h5"):
            source = self.filepath
        else:
            raise ValueError("Invalid filename: expected a `.keras` `.weights.h5` extension. "
                             f"Received: filepath={self.filepath}")
        with h5py.File(source, "r") as f:
            self.weights_dict, self.object_metadata = read_weights_tree(f)
        self.print_fn(f"Keras model file '{self.filepath}'")
        if self.metadata is not None:
            self.print_fn(f"Saved with Keras {self.metadata['keras_version']} - date: "
                          f"{self.metadata['date_saved']}")

    # ------------------------------------------------------------------ looking
    def summary(self) -> None:
        """Print the tree of objects and arrays, as Keras draws it."""
        self.print_fn("Weights structure")
        self._print_tree(self.weights_dict, prefix=" " * 2)

    def _print_tree(self, weights_dict, is_first=True, prefix="", inner_path="") -> None:
        for idx, (key, value) in enumerate(weights_dict.items()):
            # (Keras joins each key onto the previous sibling's path, and its metadata keys start
            # with "/": no object name is ever shown. Kept, so the text is Keras'.)
            inner_path = os.path.join(inner_path, key)
            is_last = idx == len(weights_dict) - 1
            if is_first:
                is_first = False
                connector = "> "
            elif is_last:
                connector = "└─ "
            else:
                connector = "├─ "
            if isinstance(value, dict):
                label = f"{prefix}{connector}{key}"
                if inner_path in self.object_metadata and "name" in self.object_metadata[inner_path]:
                    label += f" ('{self.object_metadata[inner_path]['name']}')"
                self.print_fn(label)
                self._print_tree(value, is_first=is_first, inner_path=inner_path,
                                 prefix=prefix + ("    " if is_last else "│   "))
            elif hasattr(value, "shape"):
                self.print_fn(f"{prefix}{connector}{key}: shape={value.shape}, dtype={value.dtype}")
            else:
                self.print_fn(f"{prefix}{connector}{key}: {value}")

    def compare(self, reference_model) -> dict:
        """List every difference between the file and ``reference_model``'s weights (an object
        or array on one side only, a shape that differs); returns ``{"status": "success" or
        "error", "error_count", "match_count"}`` as Keras counts them."""
        self.print_fn("Running comparison")
        ref_spec = weight_spec(reference_model)
        checked_paths: set = set()
        error_count, match_count = self._compare(self.weights_dict, ref_spec, "", "saved file",
                                                 "reference model", 0, 0, checked_paths)
        more_errors, _ = self._compare(ref_spec, self.weights_dict, "", "reference model",
                                       "saved file", 0, 0, checked_paths)
        error_count += more_errors
        self.print_fn("─────────────────────")
        if error_count == 0:
            status = "success"
            self.print_fn("Comparison successful: saved file is compatible with the reference model")
            self.print_fn(f"    Found {match_count} matching weight{'' if match_count == 1 else 's'}")
        else:
            status = "error"
            self.print_fn(f"Found {error_count} error{'' if error_count == 1 else 's'}: saved file "
                          "is not compatible with the reference model")
        return {"status": status, "error_count": error_count, "match_count": match_count}

    def _compare(self, target, ref_spec, inner_path, target_name, ref_name, error_count,
                 match_count, checked_paths) -> tuple[int, int]:
        """Keras' walk, counts included (a nested object's counts are added to the counts passed
        into it, so they grow faster than the number of arrays: Keras' numbers)."""
        base_inner_path = inner_path
        for ref_key, ref_val in ref_spec.items():
            inner_path = f"{base_inner_path}/{ref_key}"
            if inner_path in checked_paths:
                continue
            if ref_key not in target:
                error_count += 1
                checked_paths.add(inner_path)
                if isinstance(ref_val, dict):
                    self.print_fn(f"...Object {inner_path} present in {ref_name}, missing from "
                                  f"{target_name}")
                    self.print_fn(f"    In {ref_name}, {inner_path} contains the following keys: "
                                  f"{list(ref_val.keys())}")
                else:
                    self.print_fn(f"...Weight {inner_path} present in {ref_name}, missing from "
                                  f"{target_name}")
            elif isinstance(ref_val, dict):
                errors, matches = self._compare(target[ref_key], ref_val, inner_path, target_name,
                                                ref_name, error_count, match_count, checked_paths)
                error_count += errors
                match_count += matches
            elif target[ref_key].shape != ref_val.shape:
                error_count += 1
                checked_paths.add(inner_path)
                self.print_fn(f"...Weight shape mismatch for {inner_path}\n"
                              f"    In {ref_name}: shape={ref_val.shape}\n"
                              f"    In {target_name}: shape={target[ref_key].shape}")
            else:
                match_count += 1
        return error_count, match_count

    # ------------------------------------------------------------------ editing
    def _edit_object(self, edit_fn, source_name: str, target_name: str | None = None) -> None:
        """Apply ``edit_fn(parent_dict, source_name, target_name)`` where ``source_name`` is: a
        path (``"layers/dense"``), or a name found exactly once anywhere in the tree."""
        if not isinstance(source_name, str):
            raise TypeError(f"KerasFileEditor: expected the object's name or path as a string, "
                            f"received {source_name!r} of type {type(source_name).__name__}")
        if target_name is not None and "/" in target_name:
            raise ValueError("Argument `target_name` should be a leaf name, not a full path name. "
                             f"Received: target_name='{target_name}'")
        if "/" in source_name:
            elements = source_name.split("/")
            weights_dict = self.weights_dict
            for e in elements[:-1]:
                if e not in weights_dict:
                    raise ValueError(f"Path '{source_name}' not found in model.")
                weights_dict = weights_dict[e]
            if elements[-1] not in weights_dict:
                raise ValueError(f"Path '{source_name}' not found in model.")
            edit_fn(weights_dict, source_name=elements[-1], target_name=target_name)
            return
        occurrences = _count_occurrences(self.weights_dict, source_name)
        if occurrences > 1:
            raise ValueError(f"Name '{source_name}' occurs more than once in the model; try passing "
                             "a complete path")
        if occurrences == 0:
            raise ValueError(f"Source name '{source_name}' does not appear in the model. Use "
                             "`editor.weights_summary()` to list all objects.")

        def edit(d):
            for k in list(d):
                if isinstance(d.get(k), dict):
                    edit(d[k])
            if source_name in d:
                edit_fn(d, source_name=source_name, target_name=target_name)

        edit(self.weights_dict)

    def rename_object(self, object_name: str, new_name: str) -> None:
        """Rename an object (``"dense_2"`` or ``"layers/dense_2"``) to the leaf name ``new_name``."""

        def rename_fn(weights_dict, source_name, target_name):
            weights_dict[target_name] = weights_dict.pop(source_name)

        self._edit_object(rename_fn, object_name, new_name)

    def delete_object(self, object_name: str) -> None:
        """Remove an object (``"dense_2"`` or ``"layers/dense_2"``) and all its arrays."""

        def delete_fn(weights_dict, source_name, target_name=None):
            weights_dict.pop(source_name)

        self._edit_object(delete_fn, object_name)

    def add_object(self, object_path: str, weights: dict) -> None:
        """Add an object at ``object_path`` (``"layers/dense_2"``) holding ``weights``, a dict of
        arrays by weight name (``{"0": kernel, "1": bias}``)."""
        _check_weights(weights)
        if "/" in object_path:
            elements = object_path.split("/")
            partial_path = "/".join(elements[:-1])
            weights_dict = self.weights_dict
            for e in elements[:-1]:
                if e not in weights_dict:
                    raise ValueError(f"Path '{partial_path}' not found in model.")
                weights_dict = weights_dict[e]
            weights_dict[elements[-1]] = weights
        else:
            self.weights_dict[object_path] = weights

    def delete_weight(self, object_name: str, weight_name: str) -> None:
        """Remove the array ``weight_name`` (``"1"``) from an object."""

        def delete_weight_fn(weights_dict, source_name, target_name=None):
            if weight_name not in weights_dict[source_name]:
                raise ValueError(f"Weight {weight_name} not found in object {object_name}. Weights "
                                 f"found: {list(weights_dict[source_name].keys())}")
            weights_dict[source_name].pop(weight_name)

        self._edit_object(delete_weight_fn, object_name)

    def add_weights(self, object_name: str, weights: dict) -> None:
        """Add arrays (a dict by weight name) to an existing object."""
        _check_weights(weights)

        def add_weight_fn(weights_dict, source_name, target_name=None):
            weights_dict[source_name].update(weights)

        self._edit_object(add_weight_fn, object_name)

    # ------------------------------------------------------------------ writing
    def save(self, filepath) -> None:
        """Write the (edited) weights to a new ``.weights.h5`` file: each dict holding arrays
        becomes ``<path>/vars/<name>``; objects left empty are not written."""
        filepath = str(filepath)
        if not filepath.endswith(".weights.h5"):
            raise ValueError("Invalid `filepath` argument: expected a `.weights.h5` extension. "
                             f"Received: filepath={filepath}")
        with h5py.File(filepath, "w") as f:
            _write_tree(f, self.weights_dict, "")

    def resave_weights(self, filepath) -> None:
        """Keras' other name for :meth:`save`."""
        self.save(filepath)


# --------------------------------------------------------------------------- the tree
def read_weights_tree(group, metadata: dict | None = None, inner_path: str = "") -> tuple[dict, dict]:
    """``(weights_dict, object_metadata)`` of an HDF5 group, as Keras' editor reads it: a group
    with a ``vars`` subgroup is that subgroup's arrays (and nothing else under it); empty groups
    are skipped; links, virtual datasets and arrays over 4 GiB are refused."""
    metadata = {} if metadata is None else metadata
    attrs = dict(group.attrs.items())
    if attrs:
        metadata[inner_path] = attrs
    result: dict = {}
    for key in group.keys():
        path = f"{inner_path}/{key}"
        link = group.get(key, default=None, getclass=True, getlink=True)
        if link in (h5py.ExternalLink, h5py.SoftLink):
            raise ValueError(f"Not allowed: H5 file with {link.__name__}")
        value = group[key]
        if isinstance(value, h5py.Group):
            if len(value) == 0:
                continue
            if "vars" in value.keys():
                if len(value["vars"]) == 0:
                    continue
                result[key], metadata = read_weights_tree(value["vars"], metadata, path)
            else:
                result[key], metadata = read_weights_tree(value, metadata, path)
            continue
        if not isinstance(value, h5py.Dataset):
            continue
        if value.external:
            raise ValueError(f"Not allowed: H5 file Dataset with external links: {value.external}")
        if value.is_virtual:
            raise ValueError(f"Not allowed: H5 file with virtual Dataset at {path}")
        if any(dim < 0 for dim in value.shape):
            raise ValueError("Malformed HDF5 dataset shape encountered in .keras file; negative "
                             "dimension detected.")
        if len(value.shape) > 64:
            raise ValueError("Malformed HDF5 dataset shape encountered in .keras file; tensor rank "
                             "exceeds safety limit.")
        size_bytes = math.prod(value.shape) * value.dtype.itemsize
        if size_bytes > _MAX_BYTES:
            raise ValueError(f"HDF5 dataset too large to load safely ({size_bytes} bytes; limit is "
                             f"{_MAX_BYTES}).")
        result[key] = value[()]
    return result, metadata


def _write_tree(f: h5py.File, weights_dict: dict, inner_path: str) -> None:
    arrays = {}
    for name, value in weights_dict.items():
        if isinstance(value, dict):
            if value:
                _write_tree(f, value, os.path.join(inner_path, name))
        else:
            arrays[name] = value
    if arrays:
        group = f.create_group(f"{inner_path}/vars" if inner_path else "vars")
        for name, value in arrays.items():
            group.create_dataset(name, data=np.asarray(value))


def weight_spec(model) -> dict:
    """What ``model`` would write to a ``.weights.h5`` file, as the editor reads files: the same
    tree, with the arrays' shapes (Keras' ``get_weight_spec_of_saveable``)."""
    import io

    from scratchnet.saving_keras import _weights_file_bytes

    if not hasattr(model, "built") or not hasattr(model, "weights"):
        raise TypeError(f"KerasFileEditor.compare: expected a scratchnet model, received {model!r} of "
                        f"type {type(model).__name__}")
    if not model.built:
        raise ValueError("KerasFileEditor.compare: the reference model is not built yet; build it "
                         "(or call it on data) first")
    own_paths = getattr(model, "_keras_paths", None)  # a Distiller: the teacher and the student
    data = model._weights_file_bytes() if own_paths is not None else _weights_file_bytes(model)
    with h5py.File(io.BytesIO(data), "r") as f:
        spec = _object_tree(f)
    if own_paths is None:
        return _in_model_order(spec, model)
    spec = _in_model_order(spec, model, [path for path, _ in own_paths()])
    for path, inner in own_paths():
        name = path.split("/", 1)[1]
        if name in spec.get("layers", {}):
            spec["layers"][name] = _in_model_order(spec["layers"][name], inner)
    return spec


def _object_tree(group) -> dict:
    """The arrays each object saves, as Keras' weight spec nests them: an object's own ``vars``
    first, then its sub-objects (those holding arrays), whatever holds it (a nested model too)."""
    tree = {}
    if isinstance(group.get("vars"), h5py.Group):
        tree.update({key: item[()] for key, item in group["vars"].items() if isinstance(item, h5py.Dataset)})
    for key, item in group.items():
        if key != "vars" and isinstance(item, h5py.Group):
            sub = _object_tree(item)
            if sub:
                tree[key] = sub
    return tree


def _in_model_order(spec: dict, model, paths: list[str] | None = None) -> dict:
    """``spec`` with ``layers`` first and in the model's order (HDF5 lists members alphabetically;
    Keras walks a model's layers in order, then its other attributes by name)."""
    from scratchnet.saving_keras import keras_class_name, layer_paths

    if "layers" not in spec:
        return spec
    paths = paths if paths is not None else layer_paths([keras_class_name(layer) for layer in model.layers])
    in_file = spec["layers"]
    layers = {name: in_file[name] for name in (path.split("/", 1)[1] for path in paths) if name in in_file}
    layers.update({key: value for key, value in in_file.items() if key not in layers})
    return {"layers": layers, **{key: value for key, value in spec.items() if key != "layers"}}


def _count_occurrences(d: dict, name: str, count: int = 0) -> int:
    """Keras' count of the dicts holding ``name`` (each nested call is handed the count so far and
    its result added to it: a name in nested objects counts more than once, as in Keras)."""
    for k in d:
        if isinstance(d[k], dict):
            count += _count_occurrences(d[k], name, count)
    if name in d:
        count += 1
    return count


def _check_weights(weights) -> None:
    if not isinstance(weights, dict):
        raise ValueError("Argument `weights` should be a dict where keys are weight names (usually "
                         "'0', '1', etc.) and values are NumPy arrays. "
                         f"Received: type(weights)={type(weights)}")


__all__ = ["KerasFileEditor"]
