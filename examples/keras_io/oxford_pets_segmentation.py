"""Keras' example "Image segmentation with a U-Net-like architecture", in scratchnet.

    python examples/keras_io/oxford_pets_segmentation.py               # scratchnet (default)
    python examples/keras_io/oxford_pets_segmentation.py --impl keras  # the same lines in Keras 3

Keras' example segments the Oxford-IIIT pets (a download of JPEG photographs in ``images/`` and
their trimaps, PNG files in ``annotations/trimaps/`` whose pixels are 1 for the pet, 2 for the
background and 3 for the border between them). This one first writes files of the same layout
into a temporary folder: on a noisy background of a random dark colour, a "pet", an ellipse of a
random bright colour, size, shape and place, and its trimap (1 inside the ellipse, 3 on a band
along its edge, 2 elsewhere). Then the example's lines: the paths sorted, shuffled with
``random.Random(1337)`` and split into training and validation sets; the images and masks read at
``--img-size`` and the masks' labels made 0, 1, 2 (``target_img -= 1``); the example's
Xception-style U-Net (an entry ``Conv2D(strides=2)``, three down blocks of two ``SeparableConv2D``
+ ``BatchNormalization`` with ``MaxPooling2D(3, strides=2, padding="same")`` and a ``Conv2D(1,
strides=2)`` projection of the residual added with ``layers.add``; four up blocks of two
``Conv2DTranspose`` + ``BatchNormalization`` with ``UpSampling2D(2)`` and an upsampled, projected
residual; a per-pixel softmax ``Conv2D``); ``Adam`` and ``"sparse_categorical_crossentropy"``
(one class id per pixel); ``ModelCheckpoint(save_best_only=True)``; and ``predict`` on the
validation images, each mask the ``argmax`` over the classes, shown with ``array_to_img`` and
``ImageOps.autocontrast``.

Two substitutions: the example reads its files with ``tf.io`` and ``tf.image`` inside a
``tf.data`` pipeline (TensorFlow's, not Keras'); here the backend-agnostic ``K.utils.load_img`` and
``img_to_array`` read them into NumPy arrays (the masks in ``"grayscale"``), which ``fit`` batches
(as the Keras 2 version of the example did in its ``keras.utils.Sequence``). And its sizes are
smaller by default (Keras': 160x160 images, filters 32-256, 50 epochs at ``Adam(1e-4)``, hours on a
CPU): 32x32 images, filters 8-64 (``--filters``: the entry convolution's, then one down block per
value; the up blocks take them in reverse order, as the example's ``[256, 128, 64, 32]``), and a
learning rate of 1e-3 (``--learning-rate``), so that a NumPy run learns in a minute.

With ``--start-weights FILE``, ``--no-shuffle`` and ``--optimizer sgd`` the two implementations'
losses agree epoch by epoch (``parity_tests/test_keras_io_examples.py``; SGD because each
convolution's bias before ``BatchNormalization`` gets a gradient of rounding noise, which Adam
would turn into steps of their own). Measured figures: ``examples/keras_io/README.md``.
"""

# %%
import argparse
import os
import random
import sys
import tempfile

import numpy as np
from PIL import Image, ImageOps

parser = argparse.ArgumentParser(description="Keras' image segmentation with a U-Net-like architecture")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--images", type=int, default=300, help="image and trimap files to write")
parser.add_argument("--file-size", type=int, default=40, help="height and width of each file")
parser.add_argument("--img-size", type=int, default=32, help="what the files are read at (a multiple of 16)")
parser.add_argument("--val-samples", type=int, default=60, help="the validation images (the example's 1000)")
parser.add_argument("--filters", default="8,16,32,64",
                    help="entry Conv2D, then one down block per value (the up blocks: the reverse)")
parser.add_argument("--epochs", type=int, default=15)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--learning-rate", type=float, default=1e-3)
parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam",
                    help="sgd: for comparing the two implementations (see the module docstring)")
parser.add_argument("--checkpoint", default="oxford_segmentation.keras",
                    help="the .keras file ModelCheckpoint keeps the best model in (lowest val_loss)")
parser.add_argument("--folder", default=None,
                    help="where to write images/ and annotations/ (default: a temporary folder)")
parser.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                    help="batches in order every epoch (for comparing the two implementations)")
parser.add_argument("--start-weights", default=None, help=".npz of initial weights to start from")
parser.add_argument("--save-start-weights", default=None, help="write the initial weights here")
parser.add_argument("--seed", type=int, default=0, help="which images and initial weights")
parser.add_argument("--verbose", type=int, default=2, help="fit's verbosity: 0 silent, 2 a line per epoch")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

layers = K.layers

# %% [markdown]
# ## The files: "pets" (bright ellipses) in images/ and their trimaps in annotations/trimaps/

# %%
rng = np.random.default_rng(args.seed)
folder = args.folder or tempfile.mkdtemp(prefix="keras_io_oxford_pets_")
input_dir = os.path.join(folder, "images")
target_dir = os.path.join(folder, "annotations", "trimaps")
os.makedirs(input_dir, exist_ok=True)
os.makedirs(target_dir, exist_ok=True)
size = args.file_size
rows, cols = np.mgrid[:size, :size]
for i in range(args.images):
    half_height, half_width = rng.uniform(0.15, 0.35, 2) * size
    centre_row, centre_col = rng.uniform(0.3, 0.7, 2) * size
    radius = np.sqrt(((rows - centre_row) / half_height) ** 2 + ((cols - centre_col) / half_width) ** 2)
    image = rng.uniform(20, 110, 3) + rng.normal(0, 25, (size, size, 3))  # background
    image[radius < 1] = rng.uniform(140, 240, 3) + rng.normal(0, 25, (int(np.sum(radius < 1)), 3))  # pet
    trimap = np.full((size, size), 2, np.uint8)  # 1: pet, 2: background, 3: border
    trimap[radius < 1.15] = 3
    trimap[radius < 0.85] = 1
    Image.fromarray(np.clip(image, 0, 255).astype("uint8")).save(os.path.join(input_dir, f"pet_{i:04d}.png"))
    Image.fromarray(trimap).save(os.path.join(target_dir, f"pet_{i:04d}.png"))

# %% [markdown]
# ## Prepare paths of input images and target segmentation masks

# %%
img_size = (args.img_size, args.img_size)
num_classes = 3
batch_size = args.batch_size

input_img_paths = sorted(
    [os.path.join(input_dir, fname) for fname in os.listdir(input_dir) if fname.endswith(".png")]
)
target_img_paths = sorted(
    [
        os.path.join(target_dir, fname)
        for fname in os.listdir(target_dir)
        if fname.endswith(".png") and not fname.startswith(".")
    ]
)

print("Number of samples:", len(input_img_paths))

# %% [markdown]
# ## Prepare the data: the files read into arrays (the example: a tf.data pipeline of tf.io reads)

# %%
def get_dataset(img_size, input_img_paths, target_img_paths, max_dataset_len=None):
    """The images (float32, 0-255) and their masks (uint8 class ids 0, 1, 2, one channel)."""

    def load_img_masks(input_img_path, target_img_path):
        input_img = K.utils.img_to_array(K.utils.load_img(input_img_path, target_size=img_size))

        target_img = K.utils.load_img(target_img_path, target_size=img_size, color_mode="grayscale")
        target_img = K.utils.img_to_array(target_img).astype("uint8")  # (uint8 directly: read-only)

        # Ground truth labels are 1, 2, 3. Subtract one to make them 0, 1, 2:
        target_img -= 1
        return input_img, target_img

    # For faster debugging, limit the size of data
    if max_dataset_len:
        input_img_paths = input_img_paths[:max_dataset_len]
        target_img_paths = target_img_paths[:max_dataset_len]
    pairs = [load_img_masks(x, y) for x, y in zip(input_img_paths, target_img_paths, strict=True)]
    return np.stack([x for x, _ in pairs]), np.stack([y for _, y in pairs])


# %% [markdown]
# ## Prepare U-Net Xception-style model

# %%
filters = [int(f) for f in args.filters.split(",")]


def get_model(img_size, num_classes):
    inputs = K.Input(shape=img_size + (3,))

    ### [First half of the network: downsampling inputs] ###

    # Entry block
    x = layers.Conv2D(filters[0], 3, strides=2, padding="same")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)

    previous_block_activation = x  # Set aside residual

    # Blocks 1, 2, 3 are identical apart from the feature depth.
    for n in filters[1:]:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(n, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(n, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)

        # Project residual
        residual = layers.Conv2D(n, 1, strides=2, padding="same")(previous_block_activation)
        x = layers.add([x, residual])  # Add back residual
        previous_block_activation = x  # Set aside next residual

    ### [Second half of the network: upsampling inputs] ###

    for n in filters[::-1]:
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(n, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(n, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.UpSampling2D(2)(x)

        # Project residual
        residual = layers.UpSampling2D(2)(previous_block_activation)
        residual = layers.Conv2D(n, 1, padding="same")(residual)
        x = layers.add([x, residual])  # Add back residual
        previous_block_activation = x  # Set aside next residual

    # Add a per-pixel classification layer
    outputs = layers.Conv2D(num_classes, 3, activation="softmax", padding="same")(x)

    # Define the model
    model = K.Model(inputs, outputs)
    return model


# Build model
K.utils.set_random_seed(args.seed)  # the same initial weights run after run
model = get_model(img_size, num_classes)
if args.start_weights:
    with np.load(args.start_weights) as start:
        model.set_weights([start[f"w{i}"] for i in range(len(start.files))])
if args.save_start_weights:
    np.savez(args.save_start_weights, **{f"w{i}": w for i, w in enumerate(model.get_weights())})
model.summary()

# %% [markdown]
# ## Set aside a validation split

# %%
# Split our img paths into a training and a validation set
val_samples = args.val_samples
random.Random(1337).shuffle(input_img_paths)
random.Random(1337).shuffle(target_img_paths)
train_input_img_paths = input_img_paths[:-val_samples]
train_target_img_paths = target_img_paths[:-val_samples]
val_input_img_paths = input_img_paths[-val_samples:]
val_target_img_paths = target_img_paths[-val_samples:]

# Instantiate dataset for each split
# Limit input files in `max_dataset_len` for faster epoch training time.
# Remove the `max_dataset_len` arg when running with full dataset.
x_train, y_train = get_dataset(img_size, train_input_img_paths, train_target_img_paths)
x_val, y_val = get_dataset(img_size, val_input_img_paths, val_target_img_paths)

# %% [markdown]
# ## Train the model

# %%
# Configure the model for training.
# We use the "sparse" version of categorical_crossentropy
# because our target data is integers.
if args.optimizer == "adam":
    optimizer = K.optimizers.Adam(args.learning_rate)
else:
    optimizer = K.optimizers.SGD(args.learning_rate)
model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")

callbacks = [
    K.callbacks.ModelCheckpoint(args.checkpoint, save_best_only=True)
]

# Train the model, doing validation at the end of each epoch.
epochs = args.epochs
history = model.fit(
    x_train,
    y_train,
    batch_size=batch_size,
    epochs=epochs,
    validation_data=(x_val, y_val),
    callbacks=callbacks,
    shuffle=args.shuffle,
    verbose=args.verbose,
)

# %% [markdown]
# ## Visualize predictions (of the best model: the example predicts with the last one)

# %%
model.load_weights(args.checkpoint)
val_preds = model.predict(x_val, verbose=0)
predicted = np.argmax(val_preds, axis=-1)  # (N, H, W): a class id per pixel
truth = y_val[..., 0]
pixel_accuracy = float(np.mean(predicted == truth))
iou = [float(np.sum((predicted == c) & (truth == c)) / max(np.sum((predicted == c) | (truth == c)), 1))
       for c in range(num_classes)]
print(f"validation pixels right {pixel_accuracy:.3f} (all 'background': {np.mean(truth == 1):.3f}); "
      f"IoU pet {iou[0]:.3f}, background {iou[1]:.3f}, border {iou[2]:.3f}")


def display_mask(i):
    """Quick utility to display a model's prediction (here: return it; a notebook shows it)."""
    mask = np.argmax(val_preds[i], axis=-1)
    mask = np.expand_dims(mask, axis=-1)
    img = ImageOps.autocontrast(K.utils.array_to_img(mask))
    return img


# Display mask predicted by our model
mask_image = display_mask(9 % len(x_val))  # Note that the model only sees inputs at img_size.
