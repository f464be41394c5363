"""Keras' example "Image classification from scratch", in scratchnet.

    python examples/keras_io/image_classification_from_scratch.py               # scratchnet (default)
    python examples/keras_io/image_classification_from_scratch.py --impl keras  # the same lines in Keras 3

Keras' example tells cats from dogs in the Kaggle photographs (a download of JPEG files in
``PetImages/Cat`` and ``PetImages/Dog``); this one first writes small PNG files of the same
layout into a temporary folder: a ``Cat`` is a bright bar lying down, a ``Dog`` a bright bar
standing up (the horizontal flips and small rotations of the augmentation keep each what it is),
each of a random colour, size and place on a noisy background, ``--file-size`` pixels square. Then the
example's lines: ``image_dataset_from_directory(validation_split=0.2, subset="both", seed=1337)``
resizing every file to ``--image-size``, the augmentation layers (``RandomFlip("horizontal")``,
``RandomRotation(0.1)``) applied at the model's start (the example's "option 1"), ``Rescaling(1/255)``,
an Xception-like network (an entry ``Conv2D(strides=2)``, blocks of two ``SeparableConv2D`` +
``BatchNormalization``, ``MaxPooling2D(3, strides=2, padding="same")`` and a ``Conv2D(1,
strides=2)`` projection of the residual added with ``layers.add``; a last ``SeparableConv2D``,
``GlobalAveragePooling2D``, ``Dropout`` and one logit), ``Adam(3e-4)``,
``BinaryCrossentropy(from_logits=True)``, ``BinaryAccuracy(name="acc")``, a
``ModelCheckpoint("save_at_{epoch}.keras")`` per epoch, and a prediction on one file read with
``load_img`` / ``img_to_array`` and scored with ``ops.sigmoid``. Its sizes are smaller by default
(Keras': 180x180 images, filters 128-1024, 25 epochs, hours on a CPU); the flags set them back.

With ``--start-weights FILE``, ``--no-shuffle`` (the file list and the batches in order, so the
validation files are the last fifth of the sorted list), ``--no-augment`` and ``--dropout 0``
(augmentation and dropout draw different numbers in each library) the two implementations' losses
agree epoch by epoch (``parity_tests/test_keras_io_examples.py``). Measured figures:
``examples/keras_io/README.md``.
"""

# %%
import argparse
import os
import sys
import tempfile

import numpy as np
from PIL import Image

parser = argparse.ArgumentParser(description="Keras' image classification from scratch example")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--images", type=int, default=200, help="PNG files written per class")
parser.add_argument("--file-size", type=int, default=40, help="height and width of each file")
parser.add_argument("--image-size", type=int, default=32, help="what image_dataset_from_directory resizes to")
parser.add_argument("--filters", default="16,32,64,91,128",
                    help="entry Conv2D, one block per middle value (SeparableConv2D), last SeparableConv2D")
parser.add_argument("--dropout", type=float, default=0.25)
parser.add_argument("--no-augment", dest="augment", action="store_false",
                    help="leave out RandomFlip and RandomRotation (for comparing the two implementations)")
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--folder", default=None, help="where to write PetImages/ (default: a temporary folder)")
parser.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                    help="files and batches in order (for comparing the two implementations)")
parser.add_argument("--start-weights", default=None, help=".npz of initial weights to start from")
parser.add_argument("--save-start-weights", default=None, help="write the initial weights here")
parser.add_argument("--seed", type=int, default=0, help="which images")
parser.add_argument("--verbose", type=int, default=1, help="fit's verbosity: 0 silent, 1 progress bar")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

layers, ops = K.layers, K.ops

# %% [markdown]
# ## The files: lying bars ("Cat") and standing bars ("Dog") as PNG files in PetImages/

# %%
rng = np.random.default_rng(args.seed)
folder = args.folder or tempfile.mkdtemp(prefix="keras_io_pets_")
size = args.file_size
rows, cols = np.mgrid[:size, :size]
for class_name in ("Cat", "Dog"):
    os.makedirs(os.path.join(folder, "PetImages", class_name), exist_ok=True)
    for i in range(args.images):
        image = rng.normal(90, 30, (size, size, 3))
        long, short = rng.uniform(0.2, 0.35) * size, rng.uniform(0.05, 0.12) * size  # half-lengths
        row, col = rng.uniform(long, size - long, 2)
        if class_name == "Cat":  # lying down
            inside = (np.abs(rows - row) < short) & (np.abs(cols - col) < long)
        else:  # standing up
            inside = (np.abs(rows - row) < long) & (np.abs(cols - col) < short)
        image[inside] = rng.uniform(150, 255, 3)
        pixels = np.clip(image, 0, 255).astype("uint8")
        Image.fromarray(pixels).save(os.path.join(folder, "PetImages", class_name, f"{i}.png"))
print("Wrote", 2 * args.images, "images to", os.path.join(folder, "PetImages"))

# %% [markdown]
# ## Generate a Dataset

# %%
image_size = (args.image_size, args.image_size)
batch_size = args.batch_size

train_ds, val_ds = K.utils.image_dataset_from_directory(
    os.path.join(folder, "PetImages"),
    validation_split=0.2,
    subset="both",
    seed=1337,
    image_size=image_size,
    batch_size=batch_size,
    shuffle=args.shuffle,
)

# %% [markdown]
# ## Using image data augmentation

# %%
data_augmentation_layers = [
    layers.RandomFlip("horizontal"),
    layers.RandomRotation(0.1),
] if args.augment else []


def data_augmentation(images):
    for layer in data_augmentation_layers:
        images = layer(images)
    return images


# %% [markdown]
# ## Build a model

# %%
filters = [int(f) for f in args.filters.split(",")]


def make_model(input_shape, num_classes):
    inputs = K.Input(shape=input_shape)
    x = data_augmentation(inputs)  # option 1: augmentation in the model, on the device

    # Entry block
    x = layers.Rescaling(1.0 / 255)(x)
    x = layers.Conv2D(filters[0], 3, strides=2, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)

    previous_block_activation = x  # Set aside residual

    for size in filters[1:-1]:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)

        # Project residual
        residual = layers.Conv2D(size, 1, strides=2, padding="same")(previous_block_activation)
        x = layers.add([x, residual])  # Add back residual
        previous_block_activation = x  # Set aside next residual

    x = layers.SeparableConv2D(filters[-1], 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)

    x = layers.GlobalAveragePooling2D()(x)
    if num_classes == 2:
        units = 1
    else:
        units = num_classes

    x = layers.Dropout(args.dropout)(x)
    # We specify activation=None so as to return logits
    outputs = layers.Dense(units, activation=None)(x)
    return K.Model(inputs, outputs)


model = make_model(input_shape=image_size + (3,), num_classes=2)
if args.start_weights:
    with np.load(args.start_weights) as start:
        model.set_weights([start[f"w{i}"] for i in range(len(start.files))])
if args.save_start_weights:
    np.savez(args.save_start_weights, **{f"w{i}": w for i, w in enumerate(model.get_weights())})
model.summary()

# %% [markdown]
# ## Train the model

# %%
epochs = args.epochs

callbacks = [
    K.callbacks.ModelCheckpoint("save_at_{epoch}.keras"),
]
model.compile(
    optimizer=K.optimizers.Adam(3e-4),
    loss=K.losses.BinaryCrossentropy(from_logits=True),
    metrics=[K.metrics.BinaryAccuracy(name="acc")],
)
history = model.fit(
    train_ds,
    epochs=epochs,
    callbacks=callbacks,
    validation_data=val_ds,
    verbose=args.verbose,
)
print(f"validation loss {history.history['val_loss'][-1]:.4f}, acc {history.history['val_acc'][-1]:.4f} "
      f"after {epochs} epochs")

# %% [markdown]
# ## Run inference on new data

# %%
img = K.utils.load_img(os.path.join(folder, "PetImages", "Cat", "0.png"), target_size=image_size)

img_array = K.utils.img_to_array(img)
img_array = K.ops.expand_dims(img_array, 0)  # Create batch axis

predictions = model.predict(img_array, verbose=0)
score = float(K.ops.sigmoid(predictions[0][0]))
print(f"This image is {100 * (1 - score):.2f}% cat and {100 * score:.2f}% dog.")
