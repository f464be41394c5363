"""Keras' example "Bidirectional LSTM on IMDB", in scratchnet.

    python examples/keras_io/bidirectional_lstm_imdb.py               # scratchnet (default)
    python examples/keras_io/bidirectional_lstm_imdb.py --impl keras  # the same lines in Keras 3

Keras' example classifies IMDB reviews (a download); this one reads the short movie reviews that
ship with scratchnet (``scratchnet.datasets.load_reviews``: generated, positive or negative, the
opinion's "not" deciding; docs/text.md), turned into word ids as ``keras.datasets.imdb`` gives
them (most frequent word first, 0 for padding, 1 for a word outside the vocabulary) and padded
with ``pad_sequences``, as ``text_classification_transformer.py`` does. The model is the
example's, line for line: ``Input(shape=(None,), dtype="int32")`` (reviews of any length), an
``Embedding``, two ``Bidirectional(LSTM(...))`` layers, the first with ``return_sequences=True``,
and one sigmoid unit; ``"adam"``, ``"binary_crossentropy"``, ``metrics=["accuracy"]``,
``validation_data``. Its sizes are smaller by default (Keras': 128-wide embeddings, 64 units,
reviews of 200 words); the flags set them back.

With ``--start-weights FILE``, ``--no-shuffle`` and ``--optimizer sgd`` the two implementations'
losses agree epoch by epoch (``parity_tests/test_keras_io_examples.py``): SGD, because Keras' Adam
treats a word repeated within a batch differently (docs/parity-notes.md). Measured figures:
``examples/keras_io/README.md``.
"""

# %%
import argparse
import re
import sys
from collections import Counter

import numpy as np

parser = argparse.ArgumentParser(description="Keras' bidirectional LSTM example")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--epochs", type=int, default=4, help="Keras': 2")
parser.add_argument("--train-size", type=int, default=4000, help="training reviews (at most 4000)")
parser.add_argument("--val-size", type=int, default=1000, help="validation reviews (at most 1000)")
parser.add_argument("--vocab-size", type=int, default=20000, help="keep the most frequent words")
parser.add_argument("--maxlen", type=int, default=24, help="words per review (Keras': 200)")
parser.add_argument("--embed-dim", type=int, default=32, help="Keras': 128")
parser.add_argument("--units", type=int, default=16, help="each LSTM's units (Keras': 64)")
parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                    help="batches in order every epoch (for comparing the two implementations)")
parser.add_argument("--start-weights", default=None, help=".npz of initial weights to start from")
parser.add_argument("--save-start-weights", default=None, help="write the initial weights here")
parser.add_argument("--verbose", type=int, default=1, help="fit's verbosity: 0 silent, 1 progress bar")
parser.add_argument("--seed", type=int, default=None,
                    help="seed the initial weights and the shuffling (default: a fresh draw each run)")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

import scratchnet  # noqa: E402  (the reviews ship with scratchnet; the model lines use K only)

layers = K.layers
if args.seed is not None:
    K.utils.set_random_seed(args.seed)  # the same initial weights and batches run after run

# %% [markdown]
# ## The reviews as word ids, as keras.datasets.imdb gives them

# %%
train_texts, y_train = scratchnet.datasets.load_reviews("train", num_samples=args.train_size)
val_texts, y_val = scratchnet.datasets.load_reviews("test", num_samples=args.val_size)


def words(text):
    return re.sub(r"[^a-z ]", " ", text.lower()).split()


counts = Counter(word for text in train_texts for word in words(text))
index = {word: i + 2 for i, (word, _) in enumerate(counts.most_common(args.vocab_size - 2))}
vocab_size = len(index) + 2  # 0: padding, 1: a word outside the vocabulary
maxlen = args.maxlen
x_train = K.utils.pad_sequences([[index.get(w, 1) for w in words(t)] for t in train_texts], maxlen=maxlen)
x_val = K.utils.pad_sequences([[index.get(w, 1) for w in words(t)] for t in val_texts], maxlen=maxlen)
print(len(x_train), "Training sequences;", len(x_val), "Validation sequences;", vocab_size, "words")

# %% [markdown]
# ## Build the model

# %%
max_features = vocab_size
# Input for variable-length sequences of integers
inputs = K.Input(shape=(None,), dtype="int32")
# Embed each integer in a vector
x = layers.Embedding(max_features, args.embed_dim)(inputs)
# Add 2 bidirectional LSTMs
x = layers.Bidirectional(layers.LSTM(args.units, return_sequences=True))(x)
x = layers.Bidirectional(layers.LSTM(args.units))(x)
# Add a classifier
outputs = layers.Dense(1, activation="sigmoid")(x)
model = K.Model(inputs, outputs)
if args.start_weights:
    with np.load(args.start_weights) as start:
        model.set_weights([start[f"w{i}"] for i in range(len(start.files))])
if args.save_start_weights:
    np.savez(args.save_start_weights, **{f"w{i}": w for i, w in enumerate(model.get_weights())})
model.summary()

# %% [markdown]
# ## Train and evaluate the model

# %%
model.compile(optimizer=args.optimizer, loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                    validation_data=(x_val, y_val), shuffle=args.shuffle, verbose=args.verbose)
val_loss, val_accuracy = model.evaluate(x_val, y_val, verbose=0)
print(f"validation accuracy {val_accuracy:.4f} (chance 0.5) after {args.epochs} epochs")
