"""Keras' example "Simple custom layer example: Antirectifier", in scratchnet.

    python examples/keras_io/antirectifier.py               # scratchnet (default)
    python examples/keras_io/antirectifier.py --impl keras  # the same lines in Keras 3

Keras' example writes a layer of its own, ``Antirectifier(keras.layers.Layer)``: its ``build``
makes a ``(2 d, d)`` kernel with ``add_weight`` (``he_normal``), its ``call`` centres each sample
(``inputs -= ops.mean(inputs, axis=-1, keepdims=True)``), keeps both halves of the signal
(``ops.relu(inputs)`` and ``ops.relu(-inputs)``, ``ops.concatenate``d) and mixes them back to ``d``
features with ``ops.matmul``, and its ``get_config`` serializes the initializer. It trains a
``Sequential`` MLP of ``Dense(256)`` + ``Antirectifier`` twice, ``Dropout(0.5)`` and ``Dense(10)``
logits on MNIST (a download) with ``RMSprop``, ``SparseCategoricalCrossentropy(from_logits=True)``
and ``SparseCategoricalAccuracy``, ``validation_split=0.15``. This one uses the handwritten
digits that ship with scikit-learn (``scratchnet.datasets.load_digits``: 8x8 pixels in [0, 1]),
each pixel repeated 3 times in both directions in the middle of a 28x28 frame, as
``mnist_convnet.py`` does, flattened to MNIST's 784 features. The layer sizes, batch size (128)
and epochs (20) are the example's.

With ``--start-weights FILE``, ``--no-shuffle`` and ``--dropout 0`` (dropout draws different numbers
in each library) the two implementations' losses agree epoch by epoch
(``parity_tests/test_keras_io_examples.py``). Measured figures: ``examples/keras_io/README.md``.
"""

# %%
import argparse
import sys

import numpy as np

parser = argparse.ArgumentParser(description="Keras' Antirectifier custom layer example")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--units", type=int, default=256, help="the two hidden Dense layers' units")
parser.add_argument("--dropout", type=float, default=0.5)
parser.add_argument("--train-size", type=int, default=None, help="use only this many training digits")
parser.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                    help="batches in order every epoch (for comparing the two implementations)")
parser.add_argument("--start-weights", default=None, help=".npz of initial weights to start from")
parser.add_argument("--save-start-weights", default=None, help="write the initial weights here")
parser.add_argument("--verbose", type=int, default=2, help="fit's verbosity: 0 silent, 2 a line per epoch")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

import scratchnet  # noqa: E402  (the digits ship with scratchnet; the model lines use K only)

layers, ops = K.layers, K.ops

# %% [markdown]
# ## The Antirectifier layer

# %%
class Antirectifier(layers.Layer):
    def __init__(self, initializer="he_normal", **kwargs):
        super().__init__(**kwargs)
        self.initializer = K.initializers.get(initializer)

    def build(self, input_shape):
        output_dim = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(output_dim * 2, output_dim),
            initializer=self.initializer,
            name="kernel",
            trainable=True,
        )

    def call(self, inputs):
        inputs -= ops.mean(inputs, axis=-1, keepdims=True)
        pos = ops.relu(inputs)
        neg = ops.relu(-inputs)
        concatenated = ops.concatenate([pos, neg], axis=-1)
        mixed = ops.matmul(concatenated, self.kernel)
        return mixed

    def get_config(self):
        # Implement get_config to enable serialization. This is optional.
        base_config = super().get_config()
        config = {"initializer": K.initializers.serialize(self.initializer)}
        return dict(list(base_config.items()) + list(config.items()))


# %% [markdown]
# ## Train a MLP that uses this layer

# %%
# Training parameters
batch_size = args.batch_size
num_classes = 10
epochs = args.epochs


def to_mnist_frame(images):
    big = images.repeat(3, axis=1).repeat(3, axis=2)  # (N, 24, 24, 1)
    return np.pad(big, ((0, 0), (2, 2), (2, 2), (0, 0)))  # (N, 28, 28, 1)


# The data, split between train and test sets (scikit-learn's digits in MNIST's 28x28 frame)
(x_train, y_train), (x_test, y_test) = (scratchnet.datasets.load_digits(split="train"),
                                        scratchnet.datasets.load_digits(split="test"))
x_train, y_train = to_mnist_frame(x_train[:args.train_size]), y_train[:args.train_size]
x_test = to_mnist_frame(x_test)

x_train = x_train.reshape(-1, 784)
x_test = x_test.reshape(-1, 784)
x_train = x_train.astype("float32")
x_test = x_test.astype("float32")
# (load_digits' pixels are already in [0, 1]: the example's "x_train /= 255" is done)
print(x_train.shape[0], "train samples")
print(x_test.shape[0], "test samples")

# Build the model
model = K.Sequential(
    [
        K.Input(shape=(784,)),
        layers.Dense(args.units),
        Antirectifier(),
        layers.Dense(args.units),
        Antirectifier(),
        layers.Dropout(args.dropout),
        layers.Dense(10),
    ]
)
if args.start_weights:
    with np.load(args.start_weights) as start:
        model.set_weights([start[f"w{i}"] for i in range(len(start.files))])
if args.save_start_weights:
    np.savez(args.save_start_weights, **{f"w{i}": w for i, w in enumerate(model.get_weights())})

# Compile the model
model.compile(
    loss=K.losses.SparseCategoricalCrossentropy(from_logits=True),
    optimizer=K.optimizers.RMSprop(),
    metrics=[K.metrics.SparseCategoricalAccuracy()],
)

# Train the model
history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.15,
                    shuffle=args.shuffle, verbose=args.verbose)

# Test the model
score = model.evaluate(x_test, y_test, verbose=0)
print(f"Test loss {score[0]:.4f}, accuracy {score[1]:.4f}")
