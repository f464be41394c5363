"""Zero to Hero, lesson 3: convolutions and pooling, and what the filters see.

    python examples/zero_to_hero/03_convolutions.py               # scratchnet (default)
    python examples/zero_to_hero/03_convolutions.py --impl keras  # the same lines in Keras 3

Data: the course uses Fashion-MNIST (28x28), a download. This machine cannot download, so the
lesson uses scratchnet's built-in handwritten digits (``sn.datasets.load_digits``: scikit-learn's
1,797 real 8x8 greyscale images, scaled to [0, 1]). The network is the course's
Conv2D(64, 3x3) -> MaxPooling2D(2x2) -> Conv2D(64, 3x3) -> MaxPooling2D(2x2) -> Flatten ->
Dense(128, relu) -> Dense(10, softmax), with ``padding="same"`` so that the small 8x8 images
survive two 2x2 poolings (8 -> 4 -> 2 pixels; without padding the second convolution would leave
1x1 and nothing to pool).

``model.summary()`` lists every layer's output shape and parameter count. The last cells run three
images of the same digit through the layers one at a time and plot one channel of every
convolution and pooling output (the course's "visualising the convolutions and pooling").

The model and training lines are the same under both implementations: only the ``import`` differs.
Cells (``# %%``) run one at a time in PyCharm's scientific mode, VS Code or Jupyter (jupytext).
"""

# %%
import argparse
import sys

import numpy as np

import scratchnet as sn  # for the built-in data set only

parser = argparse.ArgumentParser(description="Zero to Hero lesson 3: convolutions and pooling")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--channel", type=int, default=1, help="which filter's output to plot (0-63)")
parser.add_argument("--out", default=None,
                    help="write the activation figure to this PNG (default: show it)")
parser.add_argument("--verbose", type=int, default=1, help="fit's verbosity: 0 silent, 1 progress bar")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

# %% [markdown]
# ## The data
# A convolution needs the channel axis: images of shape (8, 8, 1).

# %%
x_train, y_train = sn.datasets.load_digits("train")
x_test, y_test = sn.datasets.load_digits("test")
print(f"{len(x_train)} training images {x_train.shape[1:]}, {len(x_test)} test images")

# %% [markdown]
# ## The model
# Each Conv2D slides 64 learnt 3x3 filters over the image; each MaxPooling2D keeps the largest
# value of every 2x2 block, halving height and width.

# %%
model = K.Sequential([
    K.layers.Conv2D(64, (3, 3), padding="same", activation="relu", input_shape=(8, 8, 1)),
    K.layers.MaxPooling2D(2, 2),
    K.layers.Conv2D(64, (3, 3), padding="same", activation="relu"),
    K.layers.MaxPooling2D(2, 2),
    K.layers.Flatten(),
    K.layers.Dense(128, activation="relu"),
    K.layers.Dense(10, activation="softmax"),
])
model.summary()

# %%
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, epochs=args.epochs, verbose=args.verbose)
test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"training accuracy {history.history['accuracy'][-1]:.4f}, test accuracy {test_accuracy:.4f}")

# %% [markdown]
# ## Visualising the convolutions and the pooling
# Three test images of the same digit go through the layers one at a time; every row is one image,
# every column one convolution or pooling output (channel `--channel`). The same filter lights up
# on the same strokes of each image.

# %%
digit = int(y_test[0])
images = x_test[y_test == digit][:3]  # (3, 8, 8, 1)
activations = []  # one (3, h, w, 64) array per convolution / pooling layer
outputs = images
for layer in model.layers[:4]:
    outputs = layer(outputs)
    activations.append(np.asarray(outputs))
print("activation shapes:", [a.shape for a in activations])

# %%
import matplotlib  # noqa: E402 (the plot is this cell's business only)

if args.out:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

figure, axes = plt.subplots(3, 5, figsize=(10, 6))
for row in range(3):
    axes[row, 0].imshow(images[row, :, :, 0], cmap="gray")
    for column, activation in enumerate(activations, start=1):
        axes[row, column].imshow(activation[row, :, :, args.channel], cmap="inferno")
for column, title in enumerate(["image"] + [layer.name for layer in model.layers[:4]]):
    axes[0, column].set_title(title, fontsize=9)
for axis in axes.ravel():
    axis.axis("off")
figure.suptitle(f"digit {digit}: channel {args.channel} of each convolution and pooling ({args.impl})")
if args.out:
    figure.savefig(args.out, dpi=90)
    print(f"figure written to {args.out}")
else:
    plt.show()
