"""Keras' example "Sequence to sequence learning for performing number addition", in scratchnet.

    python examples/keras_io/seq2seq_addition.py               # scratchnet (default)
    python examples/keras_io/seq2seq_addition.py --impl keras  # the same lines in Keras 3

A question is a string such as ``"12+345 "`` (padded with spaces to its longest length) and its
answer ``"357 "``; both are one-hot encoded character by character. An LSTM reads the question
into one vector (the encoder), ``RepeatVector`` hands that vector to every step of the answer, a
second LSTM writes a sequence from it (the decoder), and a ``Dense`` softmax picks each answer
character. As in Keras' example the question is read backwards (``--reverse``), which shortens the
path from each digit to the digit of the answer it decides.

The data is generated (as in Keras' example), so nothing is downloaded. With ``--start-weights
FILE`` both implementations start from the same weights (a ``.npz`` of ``get_weights()``, written
with ``--save-start-weights FILE``), and with ``--no-shuffle`` they see the batches in the same
order: then their losses agree epoch by epoch (``parity_tests/test_keras_io_examples.py``).

Measured (defaults: 3-digit numbers, 20,000 questions, 20 epochs, batch 32, on the 2-core machine):
see ``examples/keras_io/README.md``.
"""

# %%
import argparse
import sys

import numpy as np

parser = argparse.ArgumentParser(description="Keras' seq2seq addition example")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--digits", type=int, default=3, help="the largest numbers have this many digits")
parser.add_argument("--questions", type=int, default=20000, help="training and validation questions")
parser.add_argument("--units", type=int, default=128, help="units of each LSTM")
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--no-reverse", dest="reverse", action="store_false",
                    help="read the question forwards (Keras' example reverses it)")
parser.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                    help="batches in order every epoch (for comparing the two implementations)")
parser.add_argument("--start-weights", default=None, help=".npz of initial weights to start from")
parser.add_argument("--save-start-weights", default=None, help="write the initial weights here")
parser.add_argument("--seed", type=int, default=0, help="which questions")
parser.add_argument("--verbose", type=int, default=1, help="fit's verbosity: 0 silent, 1 progress bar")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

# %% [markdown]
# ## The questions and answers, one-hot encoded

# %%
CHARS = "0123456789+ "
MAXLEN = args.digits + 1 + args.digits  # "999+999"
ANSWER_LEN = args.digits + 1  # "1998"


def encode(text: str, length: int) -> np.ndarray:
    """``(length, len(CHARS))``: a one-hot row per character."""
    rows = np.zeros((length, len(CHARS)), dtype="float32")
    rows[np.arange(len(text)), [CHARS.index(ch) for ch in text]] = 1
    return rows


def decode(rows: np.ndarray) -> str:
    return "".join(CHARS[i] for i in rows.argmax(axis=-1))


rng = np.random.default_rng(args.seed)
seen, questions, answers = set(), [], []
while len(questions) < args.questions:
    a, b = (int("".join(rng.choice(list("0123456789"), size=rng.integers(1, args.digits + 1))))
            for _ in range(2))
    if (min(a, b), max(a, b)) in seen:  # a + b and b + a count as one question
        continue
    seen.add((min(a, b), max(a, b)))
    question = f"{a}+{b}".ljust(MAXLEN)
    questions.append(question[::-1] if args.reverse else question)
    answers.append(str(a + b).ljust(ANSWER_LEN))
x = np.stack([encode(q, MAXLEN) for q in questions])  # (questions, MAXLEN, 12)
y = np.stack([encode(s, ANSWER_LEN) for s in answers])  # (questions, ANSWER_LEN, 12)
split = len(x) - len(x) // 10  # the last tenth for validation, as Keras' example
x_train, y_train, x_val, y_val = x[:split], y[:split], x[split:], y[split:]
print(f"{len(x_train)} training and {len(x_val)} validation questions, e.g. {questions[0]!r} -> "
      f"{answers[0]!r}")

# %% [markdown]
# ## Encoder, RepeatVector, decoder

# %%
model = K.Sequential([
    K.Input((MAXLEN, len(CHARS))),
    K.layers.LSTM(args.units),  # the encoder: the whole question in one vector
    K.layers.RepeatVector(ANSWER_LEN),  # that vector at every step of the answer
    K.layers.LSTM(args.units, return_sequences=True),  # the decoder
    K.layers.Dense(len(CHARS), activation="softmax"),  # a character per step
])
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
if args.start_weights:
    with np.load(args.start_weights) as start:
        model.set_weights([start[f"w{i}"] for i in range(len(start.files))])
if args.save_start_weights:
    np.savez(args.save_start_weights, **{f"w{i}": w for i, w in enumerate(model.get_weights())})
model.summary()

# %% [markdown]
# ## Training

# %%
history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                    validation_data=(x_val, y_val), shuffle=args.shuffle, verbose=args.verbose)
print(f"validation accuracy per character after {args.epochs} epochs: "
      f"{history.history['val_accuracy'][-1]:.4f}")

# %% [markdown]
# ## A few answers

# %%
predicted = model.predict(x_val[:10], verbose=0)
for q, p, s in zip(questions[split:split + 10], predicted, answers[split:split + 10], strict=True):
    question = q[::-1] if args.reverse else q
    mark = "ok" if decode(p) == s else "  "
    print(f"{mark} {question.strip():>9} = {decode(p).strip():<5} (true {s.strip()})")
exact = float(np.mean([decode(p) == s for p, s in zip(model.predict(x_val, verbose=0),
                                                       answers[split:], strict=True)]))
print(f"whole answers right: {exact:.2%}")
