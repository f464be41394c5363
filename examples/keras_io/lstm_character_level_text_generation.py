"""Keras' example "Character-level text generation with LSTM", in scratchnet.

    python examples/keras_io/lstm_character_level_text_generation.py               # scratchnet
    python examples/keras_io/lstm_character_level_text_generation.py --impl keras  # Keras 3

Keras' example learns to write like Nietzsche (a download); this one reads the short movie
reviews that ship with scratchnet (``scratchnet.datasets.load_reviews``: generated sentences with
a grammar of their own, "the plot was not very clever, although i had read the book"), joined
into one lower-case text. Then the example's lines: every ``step``-th window of ``maxlen``
characters and the character after it, one-hot as ``bool`` arrays; a ``Sequential`` of
``keras.Input(shape=(maxlen, len(chars)))``, ``LSTM(128)`` and a softmax ``Dense``;
``RMSprop(learning_rate=0.01)`` and ``categorical_crossentropy``; then, after each epoch (one
``model.fit(..., epochs=1)`` per turn of the loop), text written from a random seed window one
character per ``model.predict``, sampled with ``sample(preds, temperature)`` at the diversities
0.2, 0.5, 1.0 and 1.2.

Its sizes are smaller by default (Keras': the 600,000 characters of the book, 40 epochs, 400
characters written per diversity); the flags set them back. With ``--start-weights FILE`` and
``--no-shuffle`` the two implementations' losses agree epoch by epoch
(``parity_tests/test_keras_io_examples.py``). Measured figures: ``examples/keras_io/README.md``.
"""

# %%
import argparse
import random
import sys

import numpy as np

parser = argparse.ArgumentParser(description="Keras' character-level text generation with an LSTM")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--texts", type=int, default=300, help="reviews joined into the text")
parser.add_argument("--maxlen", type=int, default=40, help="Keras': 40")
parser.add_argument("--step", type=int, default=3, help="Keras': 3")
parser.add_argument("--units", type=int, default=128, help="Keras': 128")
parser.add_argument("--epochs", type=int, default=3, help="Keras': 40")
parser.add_argument("--batch-size", type=int, default=128, help="Keras': 128")
parser.add_argument("--generate", type=int, default=100, help="characters per diversity (Keras': 400)")
parser.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                    help="batches in order every epoch (for comparing the two implementations)")
parser.add_argument("--start-weights", default=None, help=".npz of initial weights to start from")
parser.add_argument("--save-start-weights", default=None, help="write the initial weights here")
parser.add_argument("--seed", type=int, default=0, help="the seed windows and the sampling")
parser.add_argument("--verbose", type=int, default=1, help="fit's verbosity: 0 silent, 1 progress bar")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

import scratchnet  # noqa: E402  (the reviews ship with scratchnet; the model lines use K only)

layers = K.layers
random.seed(args.seed)  # the seed windows (random.randint)
np.random.seed(args.seed)  # the sampling (np.random.multinomial)

# %% [markdown]
# ## Prepare the data

# %%
reviews, _ = scratchnet.datasets.load_reviews("train", num_samples=args.texts)
text = " ".join(reviews.tolist()).lower()
text = text.replace("\n", " ")  # We remove newlines chars for nicer display
print("Corpus length:", len(text))

chars = sorted(list(set(text)))
print("Total chars:", len(chars))
char_indices = dict((c, i) for i, c in enumerate(chars))
indices_char = dict((i, c) for i, c in enumerate(chars))

# cut the text in semi-redundant sequences of maxlen characters
maxlen = args.maxlen
step = args.step
sentences = []
next_chars = []
for i in range(0, len(text) - maxlen, step):
    sentences.append(text[i : i + maxlen])
    next_chars.append(text[i + maxlen])
print("Number of sequences:", len(sentences))

x = np.zeros((len(sentences), maxlen, len(chars)), dtype="bool")
y = np.zeros((len(sentences), len(chars)), dtype="bool")
for i, sentence in enumerate(sentences):
    for t, char in enumerate(sentence):
        x[i, t, char_indices[char]] = 1
    y[i, char_indices[next_chars[i]]] = 1

# %% [markdown]
# ## Build the model: a single LSTM layer

# %%
model = K.Sequential(
    [
        K.Input(shape=(maxlen, len(chars))),
        layers.LSTM(args.units),
        layers.Dense(len(chars), activation="softmax"),
    ]
)
optimizer = K.optimizers.RMSprop(learning_rate=0.01)
model.compile(loss="categorical_crossentropy", optimizer=optimizer)
if args.start_weights:
    with np.load(args.start_weights) as start:
        model.set_weights([start[f"w{i}"] for i in range(len(start.files))])
if args.save_start_weights:
    np.savez(args.save_start_weights, **{f"w{i}": w for i, w in enumerate(model.get_weights())})

# %% [markdown]
# ## Prepare the text sampling function


# %%
def sample(preds, temperature=1.0):
    # helper function to sample an index from a probability array
    preds = np.asarray(preds).astype("float64")
    preds = np.log(preds) / temperature
    exp_preds = np.exp(preds)
    preds = exp_preds / np.sum(exp_preds)
    probas = np.random.multinomial(1, preds, 1)
    return np.argmax(probas)


# %% [markdown]
# ## Train the model

# %%
epochs = args.epochs
batch_size = args.batch_size
losses = []  # (not in the example) each epoch's loss, for the tests
generated_texts = {}  # (not in the example) the last epoch's text per diversity, for the tests

for epoch in range(epochs):
    history = model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=args.shuffle, verbose=args.verbose)
    losses.append(history.history["loss"][0])
    print()
    print("Generating text after epoch: %d" % epoch)  # noqa: UP031  (the example's line)

    start_index = random.randint(0, len(text) - maxlen - 1)
    for diversity in [0.2, 0.5, 1.0, 1.2]:
        print("...Diversity:", diversity)

        generated = ""
        sentence = text[start_index : start_index + maxlen]
        print('...Generating with seed: "' + sentence + '"')

        for i in range(args.generate):  # noqa: B007  (the example's line)
            x_pred = np.zeros((1, maxlen, len(chars)))
            for t, char in enumerate(sentence):
                x_pred[0, t, char_indices[char]] = 1.0
            preds = model.predict(x_pred, verbose=0)[0]
            next_index = sample(preds, diversity)
            next_char = indices_char[next_index]
            sentence = sentence[1:] + next_char
            generated += next_char

        print("...Generated: ", generated)
        print("-")
        generated_texts[diversity] = generated
