"""Zero to Hero, lesson 4: rock, paper, scissors -- a convnet for three classes, fed by a generator.

    python examples/zero_to_hero/04_rock_paper_scissors.py               # scratchnet (default)
    python examples/zero_to_hero/04_rock_paper_scissors.py --impl keras  # the same lines in Keras 3

Data: the course downloads Laurence Moroney's rock-paper-scissors photographs (2,520 training and
372 test images of 300x300 pixels) and reads them with ``ImageDataGenerator.flow_from_directory``.
This machine cannot download, so the lesson uses scratchnet's built-in procedural hands
(``sn.datasets.load_rps``: the same split sizes, drawn in code) at a small image size (32x32 by
default, ``--image-size``), and a ``PyDataset`` plays the generator: it hands ``fit`` one batch
at a time, scaled to [0, 1], with one-hot labels (``class_mode="categorical"``) and random
horizontal flips (a part of the course's augmentation).

The recipe is the talk's: convolution and pooling blocks, Flatten, Dropout(0.5), Dense(512, relu),
Dense(3, softmax), ``rmsprop`` and ``categorical_crossentropy``, and
``fit(train_generator, steps_per_epoch=..., validation_data=validation_generator,
validation_steps=...)``. Three blocks instead of the course's four: a 32x32 image is 2x2 after three.

The model and training lines are the same under both implementations: only the ``import`` differs.
Cells (``# %%``) run one at a time in PyCharm's scientific mode, VS Code or Jupyter (jupytext).
"""

# %%
import argparse
import math
import sys

import numpy as np

import scratchnet as sn  # for the built-in data set only

parser = argparse.ArgumentParser(description="Zero to Hero lesson 4: rock, paper, scissors")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--image-size", type=int, default=32, help="height and width in pixels (24-150)")
parser.add_argument("--batch-size", type=int, default=126, help="the course's 126: 20 batches of 2,520")
parser.add_argument("--num-train", type=int, default=None, help="training images (default: all 2,520)")
parser.add_argument("--num-test", type=int, default=None, help="validation images (default: all 372)")
parser.add_argument("--seed", type=int, default=0, help="which procedural images, and the flips")
parser.add_argument("--verbose", type=int, default=1, help="fit's verbosity: 0 silent, 1 progress bar")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

# %% [markdown]
# ## The data
# 0 rock, 1 paper, 2 scissors. On disk the course's photographs sit in one folder per class; here
# they are arrays already.

# %%
x_train, y_train = sn.datasets.load_rps("train", image_size=args.image_size, seed=args.seed,
                                        num_samples=args.num_train)
x_test, y_test = sn.datasets.load_rps("test", image_size=args.image_size, seed=args.seed,
                                      num_samples=args.num_test)
print(f"{len(x_train)} training and {len(x_test)} validation images of {x_train.shape[1:]}, "
      f"classes {sn.datasets.RPS_CLASS_NAMES}")

# %% [markdown]
# ## The generator
# A `PyDataset` says how many batches it has (`__len__`) and builds batch number `index` on demand
# (`__getitem__`): here the pixels are scaled from 0-255 to 0-1 (the course's `rescale=1./255`),
# the labels become one-hot rows, and training images are flipped left-right at random.
# `on_epoch_end` shuffles the training images between epochs, so batches differ every epoch.

# %%
class HandImages(K.utils.PyDataset):
    def __init__(self, images, labels, batch_size, augment=False, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.pixels = np.round(images * 255)  # as if read from 8-bit image files
        self.labels = labels
        self.batch_size = batch_size
        self.augment = augment
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return math.ceil(len(self.labels) / self.batch_size)

    def __getitem__(self, index):
        batch = slice(index * self.batch_size, (index + 1) * self.batch_size)
        x = self.pixels[batch] / 255.0  # (batch, height, width, 3) in [0, 1]
        y = np.eye(3)[self.labels[batch]]  # (batch, 3) one-hot: class_mode="categorical"
        if self.augment:
            flip = self.rng.random(len(x)) < 0.5
            x[flip] = x[flip, :, ::-1]  # mirror left-right
        return x.astype("float32"), y.astype("float32")

    def on_epoch_end(self):
        if self.augment:  # fit calls this after every epoch: mix the training images anew
            order = self.rng.permutation(len(self.labels))
            self.pixels, self.labels = self.pixels[order], self.labels[order]


train_generator = HandImages(x_train, y_train, args.batch_size, augment=True, seed=args.seed)
validation_generator = HandImages(x_test, y_test, args.batch_size)
print(f"{len(train_generator)} training batches, {len(validation_generator)} validation batches")

# %% [markdown]
# ## The model
# Three convolution + pooling blocks find edges, then shapes, then hand parts; Dropout(0.5) drops
# half of the flattened features at random while training, against overfitting.

# %%
size = args.image_size
model = K.Sequential([
    K.layers.Conv2D(32, (3, 3), activation="relu", input_shape=(size, size, 3)),
    K.layers.MaxPooling2D(2, 2),
    K.layers.Conv2D(64, (3, 3), activation="relu"),
    K.layers.MaxPooling2D(2, 2),
    K.layers.Conv2D(128, (3, 3), activation="relu"),
    K.layers.MaxPooling2D(2, 2),
    K.layers.Flatten(),
    K.layers.Dropout(0.5),
    K.layers.Dense(512, activation="relu"),
    K.layers.Dense(3, activation="softmax"),
])
model.summary()

# %%
model.compile(loss="categorical_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
history = model.fit(train_generator, epochs=args.epochs, steps_per_epoch=len(train_generator),
                    validation_data=validation_generator, validation_steps=len(validation_generator),
                    verbose=args.verbose)

# %% [markdown]
# ## How it went, and a few predictions

# %%
for epoch in range(len(history.history["loss"])):
    print(f"epoch {epoch + 1:3d}: accuracy {history.history['accuracy'][epoch]:.4f}, "
          f"val_accuracy {history.history['val_accuracy'][epoch]:.4f}")
probabilities = model.predict(x_test[:6], verbose=0)
for p, label in zip(probabilities, y_test[:6], strict=True):
    print(f"predicted {sn.datasets.RPS_CLASS_NAMES[int(np.argmax(p))]:<8} "
          f"(p = {float(np.max(p)):.2f}), really {sn.datasets.RPS_CLASS_NAMES[int(label)]}")
