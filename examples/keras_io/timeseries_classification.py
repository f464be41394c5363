"""Keras' example "Timeseries classification from scratch", in scratchnet.

    python examples/keras_io/timeseries_classification.py               # scratchnet (default)
    python examples/keras_io/timeseries_classification.py --impl keras  # the same lines in Keras 3

Keras' example classifies the FordA engine recordings (a download, labels -1 and 1); this one makes
series of the same kind with NumPy: each is ``--length`` noisy readings of a wave whose frequency
tells its class (the two frequencies close, the phase and amplitude random), labelled -1 and 1 as
FordA's are. Then the example's lines: the labels -1 made 0, the training series shuffled with
``np.random.permutation``, a fully convolutional network of three ``Conv1D(padding="same")`` +
``BatchNormalization`` + ``ReLU`` blocks, ``GlobalAveragePooling1D`` and a softmax ``Dense``;
``"adam"``, ``sparse_categorical_crossentropy``, ``sparse_categorical_accuracy``,
``validation_split=0.2``, and three callbacks: ``ModelCheckpoint(save_best_only=True,
monitor="val_loss")``, ``ReduceLROnPlateau(factor=0.5, min_lr=0.0001)`` and ``EarlyStopping``;
the best model is read back with ``load_model`` and evaluated on the test series. Its sizes are
smaller by default (Keras': 500 steps, 64 filters, 500 epochs with patiences of 20 and 50, hours
on a CPU in either library); the flags set them back.

With ``--start-weights FILE`` and ``--no-shuffle`` the two implementations' losses and learning
rates agree epoch by epoch (``parity_tests/test_keras_io_examples.py``). Measured figures:
``examples/keras_io/README.md``.
"""

# %%
import argparse
import sys

import numpy as np

parser = argparse.ArgumentParser(description="Keras' time-series classification from scratch")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--epochs", type=int, default=40)
parser.add_argument("--series", type=int, default=600, help="training series (a third more for testing)")
parser.add_argument("--length", type=int, default=100, help="readings per series")
parser.add_argument("--filters", type=int, default=16, help="filters of each Conv1D")
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--lr-patience", type=int, default=5, help="ReduceLROnPlateau's patience")
parser.add_argument("--stop-patience", type=int, default=12, help="EarlyStopping's patience")
parser.add_argument("--checkpoint", default="best_model.keras", help="ModelCheckpoint's file")
parser.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                    help="batches in order every epoch (for comparing the two implementations)")
parser.add_argument("--start-weights", default=None, help=".npz of initial weights to start from")
parser.add_argument("--save-start-weights", default=None, help="write the initial weights here")
parser.add_argument("--seed", type=int, default=0, help="which series")
parser.add_argument("--verbose", type=int, default=1, help="fit's verbosity: 0 silent, 1 progress bar")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

# %% [markdown]
# ## The series: two close frequencies under noise, labelled -1 and 1 as FordA's

# %%
rng = np.random.default_rng(args.seed)


def make_series(n):
    labels = rng.choice([-1, 1], n)
    t = np.arange(args.length)[None, :]
    frequency = np.where(labels == -1, 0.045, 0.06)[:, None] * (1 + 0.05 * rng.normal(size=(n, 1)))
    amplitude = rng.uniform(0.5, 1.5, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    x = amplitude * np.sin(2 * np.pi * frequency * t + phase) + rng.normal(0, 0.8, (n, args.length))
    return x.astype("float32"), labels  # (n, length), as FordA's rows


x_train, y_train = make_series(args.series)
x_test, y_test = make_series(args.series // 3)

# %% [markdown]
# ## Standardize the data, as the example does

# %%
x_train = x_train.reshape((x_train.shape[0], x_train.shape[1], 1))
x_test = x_test.reshape((x_test.shape[0], x_test.shape[1], 1))
num_classes = len(np.unique(y_train))

np.random.seed(args.seed)
idx = np.random.permutation(len(x_train))
x_train = x_train[idx]
y_train = y_train[idx]

y_train[y_train == -1] = 0
y_test[y_test == -1] = 0

# %% [markdown]
# ## Build a model

# %%


def make_model(input_shape):
    input_layer = K.layers.Input(input_shape)

    conv1 = K.layers.Conv1D(filters=args.filters, kernel_size=3, padding="same")(input_layer)
    conv1 = K.layers.BatchNormalization()(conv1)
    conv1 = K.layers.ReLU()(conv1)

    conv2 = K.layers.Conv1D(filters=args.filters, kernel_size=3, padding="same")(conv1)
    conv2 = K.layers.BatchNormalization()(conv2)
    conv2 = K.layers.ReLU()(conv2)

    conv3 = K.layers.Conv1D(filters=args.filters, kernel_size=3, padding="same")(conv2)
    conv3 = K.layers.BatchNormalization()(conv3)
    conv3 = K.layers.ReLU()(conv3)

    gap = K.layers.GlobalAveragePooling1D()(conv3)

    output_layer = K.layers.Dense(num_classes, activation="softmax")(gap)

    return K.models.Model(inputs=input_layer, outputs=output_layer)


model = make_model(input_shape=x_train.shape[1:])
if args.start_weights:
    with np.load(args.start_weights) as start:
        model.set_weights([start[f"w{i}"] for i in range(len(start.files))])
if args.save_start_weights:
    np.savez(args.save_start_weights, **{f"w{i}": w for i, w in enumerate(model.get_weights())})
model.summary()

# %% [markdown]
# ## Train the model

# %%
callbacks = [
    K.callbacks.ModelCheckpoint(args.checkpoint, save_best_only=True, monitor="val_loss"),
    K.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=args.lr_patience, min_lr=0.0001),
    K.callbacks.EarlyStopping(monitor="val_loss", patience=args.stop_patience, verbose=1),
]
model.compile(
    optimizer="adam",
    loss="sparse_categorical_crossentropy",
    metrics=["sparse_categorical_accuracy"],
)
history = model.fit(
    x_train,
    y_train,
    batch_size=args.batch_size,
    epochs=args.epochs,
    callbacks=callbacks,
    validation_split=0.2,
    shuffle=args.shuffle,
    verbose=args.verbose,
)

# %% [markdown]
# ## Evaluate the best model on the test data

# %%
model = K.models.load_model(args.checkpoint)

test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)

print("Test accuracy", test_acc)
print("Test loss", test_loss)
metric = "sparse_categorical_accuracy"
print(f"best val_{metric} {max(history.history['val_' + metric]):.4f} after "
      f"{len(history.history['loss'])} epochs")
