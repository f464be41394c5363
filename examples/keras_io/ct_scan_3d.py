"""Keras' example "3D image classification from CT scans", in scratchnet.

    python examples/keras_io/ct_scan_3d.py               # scratchnet (default)
    python examples/keras_io/ct_scan_3d.py --impl keras  # the same lines in Keras 3

Keras' example downloads MosMedData (CT scans of lungs, with and without signs of viral pneumonia),
resizes each scan to 128x128x64 voxels and trains a 3-D convolutional network to tell the two
apart. This one generates its scans, so nothing is downloaded: each volume is "tissue" (noise in
Hounsfield units around soft tissue's 40 HU, over a darker background of air), and in half of them a
bright blob (a Gaussian ball of dense, bone-like values, at a random place and of a random size)
is the finding to detect. The volumes go through the example's own ``normalize`` (Hounsfield
units clipped to [-1000, 400], scaled to [0, 1]).

The model is the example's: four blocks of ``Conv3D`` (relu) + ``MaxPool3D(2)`` +
``BatchNormalization`` with 64, 64, 128 and 256 filters there, ``GlobalAveragePooling3D``,
``Dense(512, relu)``, ``Dropout(0.3)``, one sigmoid unit; binary cross-entropy, Adam on an
``ExponentialDecay(staircase=True)`` schedule, accuracy logged as ``"acc"``, ``EarlyStopping`` on
``val_acc``, ``ModelCheckpoint(save_best_only=True)`` whose best model makes the final
predictions (``load_weights``; ``--checkpoint`` names its file). Smaller here, so
that a NumPy run takes seconds: 16x32x32 volumes, an eighth of the filters (``--filters``), a
``Dense(64)`` (``--dense``), and ``padding="same"`` in the convolutions (Keras' example has none:
its 128-voxel scans survive four unpadded 3x3x3 convolutions and four poolings, a 16-voxel depth
would not). The learning rate starts at 1e-3 (the example's 1e-4 over 100 epochs of real scans),
and BatchNormalization's momentum is 0.9 (``--bn-momentum``; Keras' default 0.99 is the example's):
the activations here have variances near 0.01, and after the few hundred steps of a short run the
moving variance still remembers much of its initial 1 at 0.99 (measured in Keras: 0.33 against
0.009 after 110 steps, every validation scan then called negative). With batches of 4, the
validation accuracy still swings from epoch to epoch (both libraries); the checkpoint keeps the best.

With ``--start-weights FILE`` both implementations start from the same weights and with
``--no-shuffle`` see the same batches: their losses then agree epoch by epoch
(``parity_tests/test_keras_io_examples.py``, with ``--dropout 0`` and ``--optimizer sgd``).
Measured figures: ``examples/keras_io/README.md``.
"""

# %%
import argparse
import sys

import numpy as np

parser = argparse.ArgumentParser(description="Keras' 3-D CT-scan classification example")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--scans", type=int, default=120, help="how many scans to generate")
parser.add_argument("--depth", type=int, default=16)
parser.add_argument("--size", type=int, default=32, help="height and width of each slice")
parser.add_argument("--filters", default="8,8,16,32", help="the four Conv3D blocks' filters")
parser.add_argument("--dense", type=int, default=64, help="units of the hidden Dense layer")
parser.add_argument("--dropout", type=float, default=0.3)
parser.add_argument("--bn-momentum", type=float, default=0.9,
                    help="BatchNormalization's momentum (Keras' default, the example's, is 0.99)")
parser.add_argument("--epochs", type=int, default=15)
parser.add_argument("--batch-size", type=int, default=4)
parser.add_argument("--learning-rate", type=float, default=1e-3)
parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam",
                    help="adam: the example's; sgd: plain SGD (for comparing the implementations)")
parser.add_argument("--patience", type=int, default=15, help="EarlyStopping's patience on val_acc")
parser.add_argument("--checkpoint", default="3d_image_classification.keras",
                    help="the .keras file ModelCheckpoint keeps the best model in (lowest val_loss)")
parser.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                    help="batches in order every epoch (for comparing the two implementations)")
parser.add_argument("--start-weights", default=None, help=".npz of initial weights to start from")
parser.add_argument("--save-start-weights", default=None, help="write the initial weights here")
parser.add_argument("--seed", type=int, default=0, help="which scans and initial weights")
parser.add_argument("--verbose", type=int, default=2, help="fit's verbosity: 0 silent, 2 a line per epoch")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

# %% [markdown]
# ## Generated scans, in Hounsfield units

# %%
rng = np.random.default_rng(args.seed)


def make_scan(with_blob: bool) -> np.ndarray:
    """One ``(depth, size, size)`` volume: a body of soft tissue (40 HU, noise of 60 HU) inside air
    (-1000 HU), and, if ``with_blob``, a dense ball (up to 1000 HU) somewhere in the body."""
    d, h, w = np.meshgrid(np.arange(args.depth), np.arange(args.size), np.arange(args.size),
                          indexing="ij")
    centre = np.array([args.depth, args.size, args.size]) / 2
    body = ((h - centre[1]) ** 2 + (w - centre[2]) ** 2) < (0.45 * args.size) ** 2
    scan = np.where(body, 40 + 60 * rng.standard_normal(body.shape), -1000.0)
    if with_blob:
        where = centre + rng.uniform(-0.25, 0.25, 3) * np.array([args.depth, args.size, args.size])
        radius = rng.uniform(1.5, 3.0)
        distance2 = (d - where[0]) ** 2 + (h - where[1]) ** 2 + (w - where[2]) ** 2
        scan += 900 * np.exp(-distance2 / (2 * radius ** 2))
    return scan


def normalize(volume):
    """Keras' example's normalize: Hounsfield units clipped to [-1000, 400], scaled to [0, 1]."""
    min_hu, max_hu = -1000, 400
    volume[volume < min_hu] = min_hu
    volume[volume > max_hu] = max_hu
    volume = (volume - min_hu) / (max_hu - min_hu)
    return volume.astype("float32")


labels = (np.arange(args.scans) % 2).astype("float32")  # 1: a scan with a finding
scans = np.stack([normalize(make_scan(bool(label))) for label in labels])[..., None]  # (N, D, H, W, 1)
split = int(0.7 * args.scans)  # the example splits 70 / 30
x_train, y_train = scans[:split], labels[:split]
x_val, y_val = scans[split:], labels[split:]
print(f"{len(x_train)} training and {len(x_val)} validation scans of shape {scans.shape[1:]}")

# %% [markdown]
# ## The 3-D convolutional network

# %%
def get_model(depth, height, width, filters):
    """The example's get_model (its volumes are (width, height, depth); these (depth, height, width))."""
    inputs = K.Input((depth, height, width, 1))
    x = inputs
    for n in filters:
        x = K.layers.Conv3D(filters=n, kernel_size=3, activation="relu", padding="same")(x)
        x = K.layers.MaxPool3D(pool_size=2)(x)
        x = K.layers.BatchNormalization(momentum=args.bn_momentum)(x)
    x = K.layers.GlobalAveragePooling3D()(x)
    x = K.layers.Dense(units=args.dense, activation="relu")(x)
    x = K.layers.Dropout(args.dropout)(x)
    outputs = K.layers.Dense(units=1, activation="sigmoid")(x)
    return K.Model(inputs, outputs, name="3dcnn")


K.utils.set_random_seed(args.seed)  # the same initial weights run after run
model = get_model(args.depth, args.size, args.size, [int(n) for n in args.filters.split(",")])
if args.start_weights:
    with np.load(args.start_weights) as start:
        model.set_weights([start[f"w{i}"] for i in range(len(start.files))])
if args.save_start_weights:
    np.savez(args.save_start_weights, **{f"w{i}": w for i, w in enumerate(model.get_weights())})
model.summary()

# %% [markdown]
# ## Training

# %%
lr_schedule = K.optimizers.schedules.ExponentialDecay(
    args.learning_rate, decay_steps=100000, decay_rate=0.96, staircase=True)
if args.optimizer == "adam":
    optimizer = K.optimizers.Adam(learning_rate=lr_schedule)
else:
    optimizer = K.optimizers.SGD(learning_rate=lr_schedule)
model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["acc"])
checkpoint_cb = K.callbacks.ModelCheckpoint(args.checkpoint, save_best_only=True)
early_stopping_cb = K.callbacks.EarlyStopping(monitor="val_acc", patience=args.patience)
history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs,
                    batch_size=args.batch_size, shuffle=args.shuffle, verbose=args.verbose,
                    callbacks=[checkpoint_cb, early_stopping_cb])

# %% [markdown]
# ## Predictions on validation scans, by the best model of the run (the lowest val_loss)

# %%
model.load_weights(args.checkpoint)
probabilities = model.predict(x_val, verbose=0)[:, 0]
val_accuracy = float(np.mean((probabilities > 0.5) == (y_val > 0.5)))
print(f"validation accuracy {val_accuracy:.3f}")
for p, label in list(zip(probabilities, y_val, strict=True))[:4]:
    print(f"a scan {'with' if label else 'without'} a finding: this model is {100 * p:.1f}% confident "
          "it has one")
