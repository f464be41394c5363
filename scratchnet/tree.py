"""``keras.tree``: functions on nested structures (lists, tuples, namedtuples, dicts of arrays).

A *structure* is a leaf (anything else: an array, a number, ``None``) or a list, tuple,
namedtuple or dict whose items are structures. Flattening lists the leaves depth first; a dict's
items in the order of its sorted keys (an ``OrderedDict`` in its own order), as Keras (optree)
does, so ``flatten({"b": 1, "a": 2}) == [2, 1]``. ``pack_sequence_as`` is its inverse. The control
flow ops (``sn.ops.scan``, ``map``, ``while_loop``) use these to carry structures of arrays.
"""

from __future__ import annotations

import collections

__all__ = ["MAP_TO_NONE", "assert_same_paths", "assert_same_structure", "flatten", "flatten_with_path",
           "is_nested", "lists_to_tuples", "map_shape_structure", "map_structure", "map_structure_up_to",
           "pack_sequence_as", "traverse"]


class MAP_TO_NONE:  # noqa: N801 (Keras' name)
    """What a ``traverse`` function returns to put ``None`` in place of a sub-structure (its
    ``None`` means "leave as it is")."""


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def is_nested(structure) -> bool:
    """True for a list, tuple or dict (even empty); False for a leaf."""
    return isinstance(structure, list | tuple | dict)


def _children(structure) -> list:
    """The items of one level, in flattening order: a dict's by sorted key (an OrderedDict's in
    its order), a sequence's by position."""
    if isinstance(structure, dict):
        return [structure[k] for k in _keys(structure)]
    return list(structure)


def _keys(structure) -> list:
    if isinstance(structure, collections.OrderedDict):
        return list(structure)
    return sorted(structure)


def _rebuild(structure, children: list):
    """A structure of ``structure``'s type with ``children`` (in flattening order) as its items."""
    if isinstance(structure, dict):
        values = dict(zip(_keys(structure), children, strict=True))
        return type(structure)((k, values[k]) for k in structure)  # the dict's own key order
    if _is_namedtuple(structure):
        return type(structure)(*children)
    return type(structure)(children)


def flatten(structure) -> list:
    """The leaves of ``structure``, depth first."""
    if not is_nested(structure):
        return [structure]
    return [leaf for child in _children(structure) for leaf in flatten(child)]


def flatten_with_path(structure) -> list:
    """``[(path, leaf), ...]``: each leaf with the tuple of keys and indices that reach it."""
    if not is_nested(structure):
        return [((), structure)]
    keys = _keys(structure) if isinstance(structure, dict) else range(len(structure))
    return [((key,) + path, leaf) for key, child in zip(keys, _children(structure), strict=True)
            for path, leaf in flatten_with_path(child)]


def pack_sequence_as(structure, flat_sequence):
    """``flat_sequence`` put back into the shape of ``structure`` (the inverse of ``flatten``)."""
    flat_sequence = list(flat_sequence)
    expected = len(flatten(structure))
    if len(flat_sequence) != expected:
        raise ValueError(f"tree.pack_sequence_as: the structure has {expected} leaves, but "
                         f"flat_sequence has {len(flat_sequence)} items")
    leaves = iter(flat_sequence)

    def pack(s):
        if not is_nested(s):
            return next(leaves)
        return _rebuild(s, [pack(child) for child in _children(s)])
    return pack(structure)


def assert_same_structure(a, b, check_types=None):
    """Raise ``ValueError`` unless ``a`` and ``b`` nest the same way (the same kinds of
    containers, dict keys and lengths at each level; leaves may differ)."""
    if is_nested(a) != is_nested(b):
        raise ValueError(f"tree.assert_same_structure: {a!r} and {b!r} do not have the same structure")
    if not is_nested(a):
        return
    same_kind = (isinstance(a, dict) and isinstance(b, dict)) or type(a) is type(b)
    if not same_kind or len(a) != len(b) or (isinstance(a, dict) and set(a) != set(b)):
        raise ValueError(f"tree.assert_same_structure: {a!r} and {b!r} do not have the same structure")
    for x, y in zip(_children(a), _children(b), strict=True):
        assert_same_structure(x, y)


def assert_same_paths(a, b):
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same leaf paths (container kinds may differ)."""
    paths_a = {path for path, _ in flatten_with_path(a)}
    paths_b = {path for path, _ in flatten_with_path(b)}
    if paths_a != paths_b:
        raise ValueError(f"tree.assert_same_paths: the paths differ: only in a {sorted(paths_a - paths_b)}, "
                         f"only in b {sorted(paths_b - paths_a)}")


def map_structure(func, *structures, none_is_leaf=True):
    """``func`` applied leaf by leaf to ``structures`` (of one structure), in that structure.
    With ``none_is_leaf=False`` a ``None`` is left as it is instead of being passed to ``func``."""
    if not callable(func):
        raise TypeError(f"tree.map_structure: expected func to be callable, received {func!r}")
    if not structures:
        raise ValueError("tree.map_structure: expected at least one structure, received none")
    for other in structures[1:]:
        assert_same_structure(structures[0], other)
    columns = zip(*[flatten(s) for s in structures], strict=True)
    leaves = [None if not none_is_leaf and leaves[0] is None else func(*leaves) for leaves in columns]
    return pack_sequence_as(structures[0], leaves)


def map_structure_up_to(shallow_structure, func, *structures):
    """``func`` applied to the sub-structures of ``structures`` that sit where
    ``shallow_structure`` has its leaves (deeper nesting is passed to ``func`` whole)."""
    def up_to(shallow, values):
        if not is_nested(shallow):
            return func(*values)
        for v in values:
            if not is_nested(v) or len(v) != len(shallow):
                raise ValueError(f"tree.map_structure_up_to: {v!r} is shallower than {shallow!r}")
        columns = zip(*[_children(v) for v in values], strict=True)
        pairs = zip(_children(shallow), columns, strict=True)
        return _rebuild(shallow, [up_to(s, list(c)) for s, c in pairs])
    return up_to(shallow_structure, list(structures))


def traverse(func, structure, top_down=True):
    """Depth first over every sub-structure (leaves too): where ``func`` returns None the
    sub-structure stays (and, top down, is walked into); else it is replaced by what ``func``
    returned (``MAP_TO_NONE``: by None)."""
    if not callable(func):
        raise TypeError(f"tree.traverse: expected func to be callable, received {func!r}")

    def replaced(s, result):
        if result is None:
            return s
        return None if result is MAP_TO_NONE else result

    def walk(s):
        if top_down:
            result = func(s)
            if result is not None:
                return replaced(s, result)
            return _rebuild(s, [walk(c) for c in _children(s)]) if is_nested(s) else s
        s = _rebuild(s, [walk(c) for c in _children(s)]) if is_nested(s) else s
        return replaced(s, func(s))
    return walk(structure)


def lists_to_tuples(structure):
    """``structure`` with every list made a tuple."""
    if not is_nested(structure):
        return structure
    children = [lists_to_tuples(c) for c in _children(structure)]
    return tuple(children) if isinstance(structure, list) else _rebuild(structure, children)


def _is_shape(x) -> bool:
    return isinstance(x, tuple | list) and all(d is None or isinstance(d, int) for d in x)


def map_shape_structure(func, structure):
    """``map_structure`` where a tuple or list of ints and Nones (a shape) is one leaf."""
    if _is_shape(structure) or not is_nested(structure):
        return func(structure)
    return _rebuild(structure, [map_shape_structure(func, c) for c in _children(structure)])
