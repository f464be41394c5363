"""Keras' example "Timeseries classification with a Transformer model", in scratchnet.

    python examples/keras_io/timeseries_transformer.py               # scratchnet (default)
    python examples/keras_io/timeseries_transformer.py --impl keras  # the same lines in Keras 3

Keras' example classifies the FordA engine recordings (a download); this one makes series of the
same kind with NumPy: each is ``--length`` noisy readings of a wave whose frequency tells its class
(the two frequencies close, the phase and amplitude random). The model is the example's, line for
line: Transformer encoder blocks (``MultiHeadAttention(x, x)``, ``Dropout``,
``LayerNormalization``, the residual ``res = x + inputs``, a feed-forward part of two ``Conv1D``
with ``kernel_size=1``, a second residual), then ``GlobalAveragePooling1D(data_format=
"channels_first")`` (one number per step), a ``Dense`` + ``Dropout`` head and a softmax;
``Adam(1e-4)``, ``sparse_categorical_crossentropy``, ``EarlyStopping(restore_best_weights=True)``.
Its sizes are smaller by default (Keras': 500 steps, ``head_size=256``, 4 heads, 4 blocks, which
on a CPU takes hours in either library); the flags set them back.

With ``--start-weights FILE``, ``--no-shuffle`` and ``--dropout 0 --mlp-dropout 0`` (dropout draws
different numbers in each library) the two implementations' losses agree epoch by epoch
(``parity_tests/test_keras_io_examples.py``). Measured figures: ``examples/keras_io/README.md``.
"""

# %%
import argparse
import sys

import numpy as np

parser = argparse.ArgumentParser(description="Keras' time-series Transformer example")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--series", type=int, default=1000, help="training series (a third more for testing)")
parser.add_argument("--length", type=int, default=100, help="readings per series")
parser.add_argument("--head-size", type=int, default=32)
parser.add_argument("--heads", type=int, default=2)
parser.add_argument("--ff-dim", type=int, default=4)
parser.add_argument("--blocks", type=int, default=2, help="Transformer encoder blocks")
parser.add_argument("--mlp-units", type=int, default=32)
parser.add_argument("--dropout", type=float, default=0.25)
parser.add_argument("--mlp-dropout", type=float, default=0.4)
parser.add_argument("--batch-size", type=int, default=64)
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
# ## The series: two close frequencies under noise

# %%
rng = np.random.default_rng(args.seed)


def make_series(n):
    labels = rng.integers(0, 2, n)
    t = np.arange(args.length)[None, :]
    frequency = np.where(labels == 0, 0.045, 0.06)[:, None] * (1 + 0.05 * rng.normal(size=(n, 1)))
    amplitude = rng.uniform(0.5, 1.5, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    x = amplitude * np.sin(2 * np.pi * frequency * t + phase) + rng.normal(0, 0.8, (n, args.length))
    return x[:, :, None].astype("float32"), labels  # (n, length, 1), as the example reshapes FordA


x_train, y_train = make_series(args.series)
x_test, y_test = make_series(args.series // 3)
n_classes = len(np.unique(y_train))

# %% [markdown]
# ## The model, as Keras' example writes it

# %%


def transformer_encoder(inputs, head_size, num_heads, ff_dim, dropout=0):
    # Attention and Normalization
    x = K.layers.MultiHeadAttention(key_dim=head_size, num_heads=num_heads, dropout=dropout)(inputs, inputs)
    x = K.layers.Dropout(dropout)(x)
    x = K.layers.LayerNormalization(epsilon=1e-6)(x)
    res = x + inputs
    # Feed Forward Part
    x = K.layers.Conv1D(filters=ff_dim, kernel_size=1, activation="relu")(res)
    x = K.layers.Dropout(dropout)(x)
    x = K.layers.Conv1D(filters=inputs.shape[-1], kernel_size=1)(x)
    x = K.layers.LayerNormalization(epsilon=1e-6)(x)
    return x + res


def build_model(input_shape, head_size, num_heads, ff_dim, num_transformer_blocks, mlp_units,
                dropout=0, mlp_dropout=0):
    inputs = K.Input(shape=input_shape)
    x = inputs
    for _ in range(num_transformer_blocks):
        x = transformer_encoder(x, head_size, num_heads, ff_dim, dropout)
    x = K.layers.GlobalAveragePooling1D(data_format="channels_first")(x)
    for dim in mlp_units:
        x = K.layers.Dense(dim, activation="relu")(x)
        x = K.layers.Dropout(mlp_dropout)(x)
    outputs = K.layers.Dense(n_classes, activation="softmax")(x)
    return K.Model(inputs, outputs)


model = build_model(x_train.shape[1:], head_size=args.head_size, num_heads=args.heads,
                    ff_dim=args.ff_dim, num_transformer_blocks=args.blocks, mlp_units=[args.mlp_units],
                    mlp_dropout=args.mlp_dropout, dropout=args.dropout)
model.compile(loss="sparse_categorical_crossentropy",
              optimizer=K.optimizers.Adam(learning_rate=1e-4),
              metrics=["sparse_categorical_accuracy"])
if args.start_weights:
    with np.load(args.start_weights) as start:
        model.set_weights([start[f"w{i}"] for i in range(len(start.files))])
if args.save_start_weights:
    np.savez(args.save_start_weights, **{f"w{i}": w for i, w in enumerate(model.get_weights())})
model.summary()

# %% [markdown]
# ## Training, early stopping, and the test set

# %%
callbacks = [K.callbacks.EarlyStopping(patience=10, restore_best_weights=True)]
history = model.fit(x_train, y_train, validation_split=0.2, epochs=args.epochs,
                    batch_size=args.batch_size, callbacks=callbacks, shuffle=args.shuffle,
                    verbose=args.verbose)
test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"test accuracy {test_accuracy:.4f} (chance 0.5) after {len(history.history['loss'])} epochs")
