"""Connectionist Temporal Classification (Graves et al., 2006): ``ctc_loss``, its gradient and
``ctc_decode``, in readable NumPy with Keras' conventions (``keras.ops.ctc_loss``/``ctc_decode``,
TensorFlow backend).

A model emits, per time step ``t < T``, logits over ``C`` classes, one of which is the *blank*
(``mask_index``, Keras' default 0). A label sequence ``l`` of length ``L`` is read off a path
``pi`` of ``T`` classes by merging repeats and then dropping blanks (``a a - b`` -> ``a b``). The
loss is ``-log p(l | x)``, ``p`` summed over every path that reads as ``l``.

Forward (log space, ``lp = log_softmax(logits)``): the extended label ``e = (-, l1, -, l2, ..., lL, -)``
of ``S = 2L + 1`` symbols, and ``alpha[t, s]`` the log probability of the paths of length ``t + 1``
that end at ``e[s]``::

    alpha[0, 0] = lp[0, -],  alpha[0, 1] = lp[0, l1]
    alpha[t, s] = logsumexp(alpha[t-1, s], alpha[t-1, s-1], alpha[t-1, s-2] if e[s] != - and
                            e[s] != e[s-2]) + lp[t, e[s]]
    loss = -logsumexp(alpha[T-1, S-1], alpha[T-1, S-2])

Backward: ``beta[t, s]`` the same from the end, so that ``alpha + beta - lp[t, e[s]]`` is the log
probability of every full path through ``(t, s)``. With ``occupancy[t, k]`` the posterior
``sum over s with e[s] = k of exp(alpha + beta - lp - log p)``::

    dloss/dlogits[t, k] = softmax(logits[t])[k] - occupancy[t, k]     (0 for t >= T)

A label no path can reach (more labels, plus one blank per repeat, than frames) has ``p = 0``;
TensorFlow then returns a large finite number built from its ``log(1e-307)`` stand-in for
``log 0``, which means nothing, so scratchnet refuses such a label with an error instead.
"""

from __future__ import annotations

import numpy as np

from scratchnet.activations import log_softmax, softmax


# ----------------------------------------------------------------------------- the recursion
def _skip_allowed(extended: np.ndarray, blank: int) -> np.ndarray:
    """Where ``alpha[t, s]`` may come from ``s - 2``: a label that differs from the one before."""
    allowed = np.zeros(len(extended), dtype=bool)
    allowed[2:] = (extended[2:] != blank) & (extended[2:] != extended[:-2])
    return allowed


def _shift(v: np.ndarray, by: int) -> np.ndarray:
    """``v`` moved ``by`` places to the right (left for negative), ``-inf`` shifted in."""
    out = np.full_like(v, -np.inf)
    if by > 0:
        out[by:] = v[:-by]
    else:
        out[:by] = v[-by:]
    return out


def _sequence(lp: np.ndarray, label: np.ndarray, blank: int):
    """``(log p, alpha, beta, extended)`` of one sequence: ``lp`` ``(T, C)`` log probabilities,
    ``label`` ``(L,)``."""
    extended = np.full(2 * len(label) + 1, blank, dtype=np.int64)
    extended[1::2] = label
    n_steps, n_states = lp.shape[0], len(extended)
    emit = lp[:, extended]  # (T, S): log prob of emitting e[s] at t
    skip = _skip_allowed(extended, blank)
    alpha = np.full((n_steps, n_states), -np.inf, dtype=lp.dtype)
    alpha[0, :2] = emit[0, :2]
    for t in range(1, n_steps):
        prev = alpha[t - 1]
        jump = np.where(skip, _shift(prev, 2), -np.inf)
        alpha[t] = np.logaddexp(np.logaddexp(prev, _shift(prev, 1)), jump) + emit[t]
    beta = np.full((n_steps, n_states), -np.inf, dtype=lp.dtype)
    beta[-1, -2:] = emit[-1, -2:]
    skip_from = _shift(skip.astype(lp.dtype), -2) > 0  # s may go to s + 2
    for t in range(n_steps - 2, -1, -1):
        nxt = beta[t + 1]
        jump = np.where(skip_from, _shift(nxt, -2), -np.inf)
        beta[t] = np.logaddexp(np.logaddexp(nxt, _shift(nxt, -1)), jump) + emit[t]
    log_p = np.logaddexp.reduce(alpha[-1, -2:]) if n_states > 1 else alpha[-1, 0]
    return log_p, alpha, beta, extended


# ----------------------------------------------------------------------------- checks
def _check(target, output, target_length, output_length, mask_index, where: str):
    output = np.asarray(output)
    if output.dtype.kind != "f":
        output = output.astype(np.float32)
    if output.ndim != 3:
        raise ValueError(f"{where}: expected output (logits) of shape (batch_size, max_length, "
                         f"num_classes), received shape {output.shape}")
    n, steps, classes = output.shape
    target = np.asarray(target)
    if target.ndim != 2 or target.shape[0] != n:
        raise ValueError(f"{where}: expected target of shape ({n}, max_label_length) (integer labels, "
                         f"padded), received shape {target.shape}")
    if target.dtype.kind not in "iuf" or (target.dtype.kind == "f" and (
            not np.all(np.isfinite(target)) or np.any(target != np.round(target)))):
        raise ValueError(f"{where}: expected integer labels in target, received {target.dtype} values")
    target = target.astype(np.int64)
    blank = _class_index(mask_index, classes, where)
    lengths = []
    for name, value, limit in (("target_length", target_length, target.shape[1]),
                               ("output_length", output_length, steps)):
        value = np.asarray(value)
        if value.shape != (n,) or value.dtype.kind not in "iuf" or np.any(value != np.round(value)):
            raise ValueError(f"{where}: expected {name} to hold {n} integers (one per sequence), "
                             f"received {value.tolist()!r}")
        if np.any(value < 0) or np.any(value > limit):
            raise ValueError(f"{where}: expected each {name} in [0, {limit}], received "
                             f"{value.tolist()}")
        lengths.append(value.astype(np.int64))
    target_length, output_length = lengths
    if np.any(output_length < 1):
        raise ValueError(f"{where}: expected each output_length to be at least 1, received "
                         f"{output_length.tolist()}")
    for b in range(n):
        label = target[b, :target_length[b]]
        bad = label[(label < 0) | (label >= classes) | (label == blank)]
        if bad.size:
            raise ValueError(f"{where}: sequence {b} has label {int(bad[0])}, outside the classes "
                             f"[0, {classes}) other than the blank {blank}")
        needed = len(label) + int(np.sum(label[1:] == label[:-1]))  # a blank between repeats
        if needed > output_length[b]:
            raise ValueError(f"{where}: sequence {b}'s label {label.tolist()} needs at least {needed} "
                             f"frames (one per label, one more per repeat), but its output_length "
                             f"is {output_length[b]}: no path can read as it")
    return target, output, target_length, output_length, blank


def _class_index(mask_index, classes: int, where: str) -> int:
    if isinstance(mask_index, bool) or not isinstance(mask_index, int | np.integer) \
            or not -classes <= mask_index < classes:
        raise ValueError(f"{where}: expected mask_index to be a class index in [-{classes}, {classes}), "
                         f"received mask_index={mask_index!r}")
    return int(mask_index) % classes


# ----------------------------------------------------------------------------- the loss
def ctc_loss(target, output, target_length, output_length, mask_index: int = 0) -> np.ndarray:
    """``keras.ops.ctc_loss``: ``-log p(label | logits)`` per sequence, shape ``(batch_size,)``.

    ``target`` ``(N, L)`` integer labels (only the first ``target_length[b]`` of row ``b`` count),
    ``output`` ``(N, T, C)`` logits (not softmaxed), ``output_length`` how many frames of each row
    to read, ``mask_index`` the blank class.
    """
    target, output, target_length, output_length, blank = _check(
        target, output, target_length, output_length, mask_index, "ctc_loss")
    lp = log_softmax(output)
    losses = np.empty(output.shape[0], dtype=output.dtype)
    for b in range(output.shape[0]):
        log_p, _, _, _ = _sequence(lp[b, :output_length[b]], target[b, :target_length[b]], blank)
        losses[b] = -log_p
    return losses


def ctc_loss_gradient(target, output, target_length, output_length, mask_index: int = 0,
                      upstream=None) -> np.ndarray:
    """``d sum_b(upstream[b] * loss[b]) / d output``, shape ``(N, T, C)`` (``upstream``: 1 each)."""
    target, output, target_length, output_length, blank = _check(
        target, output, target_length, output_length, mask_index, "ctc_loss")
    n, steps, classes = output.shape
    upstream = np.ones(n, dtype=output.dtype) if upstream is None else np.asarray(upstream, output.dtype)
    lp = log_softmax(output)
    probs = softmax(output)
    grad = np.zeros_like(output)
    for b in range(n):
        frames = output_length[b]
        log_p, alpha, beta, extended = _sequence(lp[b, :frames], target[b, :target_length[b]], blank)
        posterior = np.exp(alpha + beta - lp[b, :frames][:, extended] - log_p)  # (T_b, S)
        occupancy = np.zeros((frames, classes), dtype=output.dtype)
        np.add.at(occupancy.T, extended, posterior.T)  # sum the states of each class
        grad[b, :frames] = upstream[b] * (probs[b, :frames] - occupancy)
    return grad


# ----------------------------------------------------------------------------- decoding
def ctc_decode(inputs, sequence_lengths, strategy: str = "greedy", beam_width: int = 100,
               top_paths: int = 1, merge_repeated: bool = True, mask_index: int = 0):
    """``keras.ops.ctc_decode``: ``(decoded, scores)``.

    ``decoded`` is ``(top_paths, N, T)`` int32, each decoded label sequence padded with ``-1``
    (``top_paths`` is 1 for greedy). ``strategy="greedy"``: the most likely class per frame,
    repeats merged (``merge_repeated``), blanks dropped; ``scores`` ``(N, 1)`` is minus the sum of
    the largest logit of each frame (TensorFlow's ``neg_sum_logits``). ``strategy="beam_search"``:
    the ``top_paths`` label sequences of highest probability found by a prefix beam search that
    keeps ``beam_width`` prefixes per frame; ``scores`` ``(N, top_paths)`` their log probabilities.
    As in Keras' TensorFlow backend, beam search never merges the repeats of its answers
    (``merge_repeated`` is ignored there).
    """
    inputs = np.asarray(inputs)
    if inputs.dtype.kind != "f":
        inputs = inputs.astype(np.float32)
    if inputs.ndim != 3:
        raise ValueError(f"ctc_decode: expected inputs of shape (batch_size, max_length, num_classes), "
                         f"received shape {inputs.shape}")
    n, steps, classes = inputs.shape
    lengths = np.asarray(sequence_lengths)
    if lengths.shape != (n,) or lengths.dtype.kind not in "iu" or np.any(lengths < 0) \
            or np.any(lengths > steps):
        raise ValueError(f"ctc_decode: expected sequence_lengths to hold {n} integers in [0, {steps}], "
                         f"received {np.asarray(sequence_lengths).tolist()!r}")
    blank = _class_index(mask_index, classes, "ctc_decode")
    for arg, value in (("beam_width", beam_width), ("top_paths", top_paths)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"ctc_decode: expected {arg} to be a positive integer, received {value!r}")
    if strategy == "greedy":
        sequences = [[_greedy(inputs[b, :lengths[b]], blank, merge_repeated)] for b in range(n)]
        paths = 1
    elif strategy == "beam_search":
        if mask_index < 0:
            raise ValueError(f"ctc_decode: beam search takes mask_index >= 0, received "
                             f"mask_index={mask_index}; pass {blank} for this class (Keras 3.15.1's "
                             "beam search slices a negative index into a table of 2C - 1 classes "
                             "and returns labels that do not exist)")
        if top_paths > beam_width:
            raise ValueError(f"ctc_decode: top_paths ({top_paths}) must be at most beam_width "
                             f"({beam_width})")
        sequences = [_beam_search(log_softmax(inputs[b, :lengths[b]]), blank, beam_width, top_paths)
                     for b in range(n)]
        paths = top_paths
    else:
        raise ValueError(f"Invalid strategy {strategy}. Supported values are 'greedy' and "
                         "'beam_search'.")
    decoded = np.full((paths, n, steps), -1, dtype=np.int32)
    scores = np.zeros((n, paths), dtype=np.float32 if inputs.dtype != np.float64 else np.float64)
    for b, found in enumerate(sequences):
        for p, (labels, score) in enumerate(found):
            decoded[p, b, :len(labels)] = labels
            scores[b, p] = score
    return decoded, scores


def _greedy(logits: np.ndarray, blank: int, merge_repeated: bool):
    """The best class of each frame (the first of equal ones), then merge and drop blanks."""
    if not len(logits):
        return [], 0.0
    best = np.argmax(logits, axis=-1)
    labels, previous = [], -1
    for c in best:
        if c != blank and not (merge_repeated and c == previous):
            labels.append(int(c))
        previous = c
    return labels, -float(np.sum(np.max(logits, axis=-1)))


def _beam_search(lp: np.ndarray, blank: int, beam_width: int, top_paths: int):
    """Prefix beam search: for each prefix (a tuple of labels) the log probability of the paths
    so far that read as it and end in a blank, ``pb``, or in its last label, ``pl``."""
    beams = {(): (0.0, -np.inf)}  # prefix -> (pb, pl)
    for frame in lp:
        grown: dict[tuple, tuple[float, float]] = {}
        for prefix, (pb, pl) in beams.items():
            total = np.logaddexp(pb, pl)
            _add(grown, prefix, blank_part=total + frame[blank])  # a blank: same prefix
            if prefix:  # the last label again, without a blank between: same prefix
                _add(grown, prefix, label_part=pl + frame[prefix[-1]])
            for c in range(len(frame)):
                if c == blank:
                    continue
                # a new label; repeating the last one needs a blank in between
                source = pb if prefix and c == prefix[-1] else total
                _add(grown, prefix + (c,), label_part=source + frame[c])
        ranked = sorted(grown.items(), key=lambda item: -np.logaddexp(*item[1]))
        beams = dict(ranked[:beam_width])
    ranked = sorted(beams.items(), key=lambda item: -np.logaddexp(*item[1]))[:top_paths]
    return [(list(prefix), float(np.logaddexp(*parts))) for prefix, parts in ranked]


def _add(beams: dict, prefix: tuple, blank_part=-np.inf, label_part=-np.inf) -> None:
    """Add the two log probabilities into ``prefix``'s ``(pb, pl)``."""
    pb, pl = beams.get(prefix, (-np.inf, -np.inf))
    beams[prefix] = (np.logaddexp(pb, blank_part), np.logaddexp(pl, label_part))
