"""Keras' example "Text classification from scratch", in scratchnet.

    python examples/keras_io/text_classification_from_scratch.py               # scratchnet (default)
    python examples/keras_io/text_classification_from_scratch.py --impl keras  # the same lines in Keras 3

Keras' example classifies the raw IMDB review files (a download, read with
``text_dataset_from_directory``); this one reads the short movie reviews that ship with scratchnet
(``scratchnet.datasets.load_reviews``: generated, positive or negative, the opinion's "not"
deciding; docs/text.md) as arrays of strings. Then the example's lines: a ``TextVectorization(
max_tokens, output_mode="int", output_sequence_length)`` adapted to the training texts and applied
to the texts (the example maps it over a ``tf.data`` pipeline, and its custom standardization is
written with ``tf.strings``: here the layer's default ``"lower_and_strip_punctuation"``), a model
of ``Input(shape=(None,), dtype="int64")``, ``Embedding``, ``Dropout``, two
``Conv1D(padding="valid", strides=3)``, ``GlobalMaxPooling1D``, ``Dense``, ``Dropout`` and a
sigmoid unit; ``binary_crossentropy``, ``"adam"``; then the end-to-end model, ``Input(shape=(1,),
dtype="string")`` -> the TextVectorization -> the trained model called as a layer, evaluated on
raw strings. Its sizes are smaller by default (Keras': 20,000 words, 128-wide embeddings and
filters, 500 words per review); the flags set them back.

With ``--start-weights FILE``, ``--no-shuffle``, ``--dropout 0`` and ``--optimizer sgd`` the two
implementations' losses agree epoch by epoch (``parity_tests/test_keras_io_examples.py``): SGD,
because Keras' Adam treats a word repeated within a batch differently (docs/parity-notes.md).
Measured figures: ``examples/keras_io/README.md``.
"""

# %%
import argparse
import sys

import numpy as np

parser = argparse.ArgumentParser(description="Keras' text classification from scratch example")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--epochs", type=int, default=3, help="Keras': 3")
parser.add_argument("--train-size", type=int, default=4000, help="training reviews (at most 4000)")
parser.add_argument("--val-size", type=int, default=1000, help="validation and test reviews (at most 1000)")
parser.add_argument("--max-features", type=int, default=20000, help="TextVectorization's max_tokens")
parser.add_argument("--sequence-length", type=int, default=40, help="words per review (Keras': 500)")
parser.add_argument("--embedding-dim", type=int, default=32, help="Keras': 128")
parser.add_argument("--filters", type=int, default=32, help="each Conv1D's filters and the Dense's units")
parser.add_argument("--dropout", type=float, default=0.5)
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
# ## The reviews as raw strings

# %%
train_texts, y_train = scratchnet.datasets.load_reviews("train", num_samples=args.train_size)
test_texts, y_test = scratchnet.datasets.load_reviews("test", num_samples=2 * args.val_size)
val_texts, y_val = test_texts[:args.val_size], y_test[:args.val_size]
test_texts, y_test = test_texts[args.val_size:], y_test[args.val_size:]
train_texts, val_texts, test_texts = (np.array(t, dtype=str) for t in (train_texts, val_texts, test_texts))
y_train, y_val, y_test = (np.asarray(y, dtype="float32") for y in (y_train, y_val, y_test))
print(len(train_texts), "training,", len(val_texts), "validation,", len(test_texts), "test reviews")
print(train_texts[0], "->", y_train[0])

# %% [markdown]
# ## Prepare the data: TextVectorization

# %%
# Model constants.
max_features = args.max_features
embedding_dim = args.embedding_dim
sequence_length = args.sequence_length

vectorize_layer = K.layers.TextVectorization(
    max_tokens=max_features,
    output_mode="int",
    output_sequence_length=sequence_length,
)

# Let's call `adapt` on the text-only data to build the vocabulary.
vectorize_layer.adapt(train_texts)


def vectorize_text(text):
    text = np.expand_dims(text, -1)
    return np.asarray(vectorize_layer(text))


x_train, x_val, x_test = vectorize_text(train_texts), vectorize_text(val_texts), vectorize_text(test_texts)
print("vocabulary:", len(vectorize_layer.get_vocabulary()), "words; x_train", x_train.shape)

# %% [markdown]
# ## Build a model

# %%
# A integer input for vocab indices.
inputs = K.Input(shape=(None,), dtype="int64")

# Next, we add a layer to map those vocab indices into a space of dimensionality
# 'embedding_dim'.
x = layers.Embedding(max_features, embedding_dim)(inputs)
x = layers.Dropout(args.dropout)(x)

# Conv1D + global max pooling
x = layers.Conv1D(args.filters, 7, padding="valid", activation="relu", strides=3)(x)
x = layers.Conv1D(args.filters, 7, padding="valid", activation="relu", strides=3)(x)
x = layers.GlobalMaxPooling1D()(x)

# We add a vanilla hidden layer:
x = layers.Dense(args.filters, activation="relu")(x)
x = layers.Dropout(args.dropout)(x)

# We project onto a single unit output layer, and squash it with a sigmoid:
predictions = layers.Dense(1, activation="sigmoid", name="predictions")(x)

model = K.Model(inputs, predictions)
if args.start_weights:
    with np.load(args.start_weights) as start:
        model.set_weights([start[f"w{i}"] for i in range(len(start.files))])
if args.save_start_weights:
    np.savez(args.save_start_weights, **{f"w{i}": w for i, w in enumerate(model.get_weights())})
model.summary()

# Compile the model with binary crossentropy loss and an adam optimizer.
model.compile(loss="binary_crossentropy", optimizer=args.optimizer, metrics=["accuracy"])

# %% [markdown]
# ## Train the model

# %%
epochs = args.epochs

# Fit the model using the train and test datasets.
history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs,
                    batch_size=args.batch_size, shuffle=args.shuffle, verbose=args.verbose)

# %% [markdown]
# ## Evaluate the model on the test set

# %%
test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"test accuracy {test_accuracy:.4f} (chance 0.5)")

# %% [markdown]
# ## Make an end-to-end model

# %%
# A string input
inputs = K.Input(shape=(1,), dtype="string")
# Turn strings into vocab indices
indices = vectorize_layer(inputs)
# Turn vocab indices into predictions
outputs = model(indices)

# Our end to end model
end_to_end_model = K.Model(inputs, outputs)
end_to_end_model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])

# Test it with raw strings
raw_test = K.ops.convert_to_tensor(test_texts[:, None])  # Keras' fit/evaluate read strings as tensors
raw_loss, raw_accuracy = end_to_end_model.evaluate(raw_test, y_test, verbose=0)
print(f"end-to-end on the raw test strings: accuracy {raw_accuracy:.4f} (loss {raw_loss:.4f})")
