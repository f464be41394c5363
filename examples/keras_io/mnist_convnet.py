"""Keras' example "Simple MNIST convnet", in scratchnet.

    python examples/keras_io/mnist_convnet.py               # scratchnet (default)
    python examples/keras_io/mnist_convnet.py --impl keras  # the same lines in Keras 3

Keras' example trains on MNIST (a download); this one uses the handwritten digits that ship with
scikit-learn (``scratchnet.datasets.load_digits``: 8x8 pixels in [0, 1]), each pixel repeated
``--scale`` times in both directions and the digit placed in the middle of a 28x28 frame, as
MNIST's 20x20 digits sit in theirs. Then the example's lines: ``to_categorical`` labels, a
``Sequential`` of two ``Conv2D`` + ``MaxPooling2D`` blocks, ``Flatten``, ``Dropout(0.5)`` and a
softmax ``Dense``; ``categorical_crossentropy``, ``"adam"``, ``validation_split=0.1``, and
``evaluate`` on the test digits. Its filters (32, 64) and epochs (15) are the example's; its batch
size is 128 as there.

With ``--start-weights FILE``, ``--no-shuffle`` and ``--dropout 0`` (dropout draws different numbers
in each library) the two implementations' losses agree epoch by epoch
(``parity_tests/test_keras_io_examples.py``). Measured figures: ``examples/keras_io/README.md``.
"""

# %%
import argparse
import sys

import numpy as np

parser = argparse.ArgumentParser(description="Keras' simple MNIST convnet example")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--epochs", type=int, default=15)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--filters", default="32,64", help="the two Conv2D layers' filters")
parser.add_argument("--dropout", type=float, default=0.5)
parser.add_argument("--scale", type=int, default=3, help="each 8x8 pixel becomes scale x scale (at most 3)")
parser.add_argument("--train-size", type=int, default=None, help="use only this many training digits")
parser.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                    help="batches in order every epoch (for comparing the two implementations)")
parser.add_argument("--start-weights", default=None, help=".npz of initial weights to start from")
parser.add_argument("--save-start-weights", default=None, help="write the initial weights here")
parser.add_argument("--verbose", type=int, default=1, help="fit's verbosity: 0 silent, 1 progress bar")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

import scratchnet  # noqa: E402  (the digits ship with scratchnet; the model lines use K only)

layers = K.layers

# %% [markdown]
# ## Prepare the data: digits in a 28x28 frame, as MNIST's

# %%
num_classes = 10
input_shape = (28, 28, 1)


def to_mnist_frame(images):
    big = images.repeat(args.scale, axis=1).repeat(args.scale, axis=2)  # (N, 8s, 8s, 1)
    before = (28 - big.shape[1]) // 2
    after = 28 - big.shape[1] - before
    return np.pad(big, ((0, 0), (before, after), (before, after), (0, 0)))  # (N, 28, 28, 1)


(x_train, y_train), (x_test, y_test) = (scratchnet.datasets.load_digits(split="train"),
                                        scratchnet.datasets.load_digits(split="test"))
x_train, y_train = x_train[:args.train_size], y_train[:args.train_size]
# Scale images to the [0, 1] range (load_digits already did) and make sure they are (28, 28, 1)
x_train = to_mnist_frame(x_train).astype("float32")
x_test = to_mnist_frame(x_test).astype("float32")
print("x_train shape:", x_train.shape)
print(x_train.shape[0], "train samples")
print(x_test.shape[0], "test samples")

# convert class vectors to binary class matrices
y_train = K.utils.to_categorical(y_train, num_classes)
y_test = K.utils.to_categorical(y_test, num_classes)

# %% [markdown]
# ## Build the model

# %%
filters = [int(f) for f in args.filters.split(",")]
model = K.Sequential(
    [
        K.Input(shape=input_shape),
        layers.Conv2D(filters[0], kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(filters[1], kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(args.dropout),
        layers.Dense(num_classes, activation="softmax"),
    ]
)
if args.start_weights:
    with np.load(args.start_weights) as start:
        model.set_weights([start[f"w{i}"] for i in range(len(start.files))])
if args.save_start_weights:
    np.savez(args.save_start_weights, **{f"w{i}": w for i, w in enumerate(model.get_weights())})
model.summary()

# %% [markdown]
# ## Train the model

# %%
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                    validation_split=0.1, shuffle=args.shuffle, verbose=args.verbose)

# %% [markdown]
# ## Evaluate the trained model

# %%
score = model.evaluate(x_test, y_test, verbose=0)
print("Test loss:", score[0])
print("Test accuracy:", score[1])
