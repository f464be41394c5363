"""Text classification: a bag of words against a model that reads word order, in scratchnet or Keras.

    python examples/text_classification.py                 # scratchnet (default)
    python examples/text_classification.py --impl keras    # the same lines in Keras 3
    python examples/text_classification.py --plot word_vectors.png

Data: ``sn.datasets.load_reviews``, short generated movie reviews labelled positive (1) or
negative (0). The label depends on the words ("good", "dull") and on a "not" right before them
("not good" is negative); a second "not", in a side remark, makes the mere presence of "not"
useless. Two models read the same vectorized texts:

    bag of words (the course's model):
        TextVectorization -> Embedding(mask_zero=True) -> GlobalAveragePooling1D -> Dense -> Dense
    word order:
        TextVectorization -> Embedding -> Conv1D(kernel 3) -> GlobalMaxPooling1D -> Dense

Averaging the word vectors forgets where "not" was, so the bag of words tops out near 75%; a
Conv1D window sees "not very good" as one pattern and gets (nearly) every review right. The last
cell projects the bag-of-words model's learnt word vectors to 2-D: positive and negative words
pull apart. The model lines are the same under both implementations: only the import differs.
Cells (``# %%``) run one at a time in PyCharm's scientific mode, VS Code or Jupyter (jupytext).
"""

# %%
import argparse
import sys

import numpy as np

import scratchnet as sn  # for the built-in data set only

parser = argparse.ArgumentParser(description="Bag of words vs word order on generated reviews")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--train-size", type=int, default=4000, help="training reviews (at most 4000)")
parser.add_argument("--test-size", type=int, default=1000, help="test reviews (at most 1000)")
parser.add_argument("--max-tokens", type=int, default=1000, help="vocabulary size, with '' and [UNK]")
parser.add_argument("--sequence-length", type=int, default=24, help="tokens per review after padding")
parser.add_argument("--embedding-dim", type=int, default=16)
parser.add_argument("--plot", default=None, help="save the word-vector plot to this file")
parser.add_argument("--verbose", type=int, default=1, help="fit's verbosity: 0 silent, 1 progress bar")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K

    K.utils.set_random_seed(0)
    seed = {}  # Keras seeds globally
else:
    import scratchnet as K

    seed = {"seed": 0}  # a scratchnet model takes its seed

# %% [markdown]
# ## The data
# Raw strings and 0/1 labels; capitals and punctuation vary.

# %%
train_texts, train_labels = sn.datasets.load_reviews("train", num_samples=args.train_size)
test_texts, test_labels = sn.datasets.load_reviews("test", num_samples=args.test_size)
for text, label in zip(train_texts[:4], train_labels[:4], strict=True):
    print(f"{'positive' if label else 'negative'}: {text}")

# %% [markdown]
# ## Text to numbers: TextVectorization
# `adapt` learns the vocabulary from the training texts (most frequent word first); index 0 is the
# padding token "" and index 1 "[UNK]" for words it never saw. Each review becomes
# `sequence_length` indices, zero-padded at the end.

# %%
vectorize = K.layers.TextVectorization(max_tokens=args.max_tokens,
                                       output_sequence_length=args.sequence_length)
vectorize.adapt(train_texts)
vocabulary = [str(word) for word in vectorize.get_vocabulary()]
train_ids = np.asarray(vectorize(train_texts))
test_ids = np.asarray(vectorize(test_texts))
vocab_size = len(vocabulary)
print(f"{vocab_size} tokens, first ones {vocabulary[:8]}")
print(f"{str(train_texts[0])!r} -> {train_ids[0].tolist()}")

# %% [markdown]
# ## The course's model: a bag of words
# `mask_zero=True` marks index 0 as padding; GlobalAveragePooling1D then averages the vectors of
# the real words only. Whatever the order of the words, the average is the same.

# %%
bag_of_words = K.Sequential([
    K.Input((args.sequence_length,), dtype="int32"),
    K.layers.Embedding(vocab_size, args.embedding_dim, mask_zero=True),
    K.layers.GlobalAveragePooling1D(),
    K.layers.Dense(24, activation="relu"),
    K.layers.Dense(1, activation="sigmoid"),
], **seed)
bag_of_words.compile(optimizer=K.optimizers.Adam(0.01), loss="binary_crossentropy",
                     metrics=["accuracy"])
bag_of_words.fit(train_ids, train_labels, epochs=args.epochs, batch_size=32, verbose=args.verbose)

# %% [markdown]
# ## A model that sees word order: Conv1D
# Each of 32 filters looks at 3 neighbouring word vectors at a time ("not very good"), and
# GlobalMaxPooling1D keeps each filter's strongest match anywhere in the review.

# %%
word_order = K.Sequential([
    K.Input((args.sequence_length,), dtype="int32"),
    K.layers.Embedding(vocab_size, args.embedding_dim),
    K.layers.Conv1D(32, 3, activation="relu"),
    K.layers.GlobalMaxPooling1D(),
    K.layers.Dense(1, activation="sigmoid"),
], **seed)
word_order.compile(optimizer=K.optimizers.Adam(0.01), loss="binary_crossentropy",
                   metrics=["accuracy"])
word_order.fit(train_ids, train_labels, epochs=args.epochs, batch_size=32, verbose=args.verbose)

# %% [markdown]
# ## On reviews neither model saw

# %%
results = {}
for name, model in (("bag of words", bag_of_words), ("Conv1D", word_order)):
    loss, accuracy = model.evaluate(test_ids, test_labels, verbose=0)
    results[name] = float(accuracy)
    print(f"{name:>12}: test accuracy {accuracy:.3f} (loss {loss:.3f})")
probe = np.array(["The plot was good.", "The plot was not good.", "The plot was not bad!"])
for name, model in (("bag of words", bag_of_words), ("Conv1D", word_order)):
    scores = np.asarray(model.predict(np.asarray(vectorize(probe)), verbose=0))[:, 0]
    print(f"{name:>12}: " + ", ".join(f"{str(t)!r} {s:.2f}" for t, s in zip(probe, scores, strict=True)))

# %% [markdown]
# ## The learnt word vectors, in 2-D
# The bag-of-words model's embedding table, projected on its two principal axes. Positive words
# gather on one side, negative ones on the other; "not" has to sit somewhere, but a single vector
# cannot flip the words that follow it.

# %%
import matplotlib  # noqa: E402

if args.plot is not None:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from scratchnet.datasets import reviews  # noqa: E402

table = np.asarray(bag_of_words.get_weights()[0])  # the embeddings: (vocab_size, embedding_dim)
centred = table[2:] - table[2:].mean(axis=0)  # the words, not "" or [UNK]
_, _, axes = np.linalg.svd(centred, full_matrices=False)
points = centred @ axes[:2].T  # (vocab_size - 2, 2)
groups = {"positive": reviews.POSITIVE, "negative": reviews.NEGATIVE, "negation": ("not",)}
colours = {"positive": "tab:green", "negative": "tab:red", "negation": "tab:blue"}
fig, ax = plt.subplots(figsize=(7, 6))
for (x, y), word in zip(points, vocabulary[2:], strict=True):
    group = next((g for g, words in groups.items() if word in words), None)
    ax.scatter(x, y, s=12, color=colours.get(group, "lightgrey"))
    if group is not None:
        ax.annotate(word, (x, y), fontsize=8, color=colours[group])
ax.set_title(f"Word vectors of the bag-of-words model ({args.impl}), 2-D projection")
ax.set_xlabel("first principal axis")
ax.set_ylabel("second principal axis")
fig.tight_layout()
if args.plot is not None:
    fig.savefig(args.plot, dpi=120)
    print(f"saved {args.plot}")
else:
    plt.show()
