"""Zero to Hero, lesson 5: a binary classifier -- one sigmoid unit and binary cross-entropy.

    python examples/zero_to_hero/05_binary_classifier.py               # scratchnet (default)
    python examples/zero_to_hero/05_binary_classifier.py --impl keras  # the same lines in Keras 3

Data: the course downloads the horses-or-humans photographs. This machine cannot download, so the
lesson tells two classes of scratchnet's built-in procedural hands apart instead: rock (label 0)
against paper (label 1), from ``sn.datasets.load_rps`` (scissors left out) at a small image size.

With two classes one output is enough: ``Dense(1, activation="sigmoid")`` gives p = P(paper), and
``binary_crossentropy`` scores it: -(y log p + (1 - y) log(1 - p)). A prediction above 0.5 means
paper, below means rock. The optimizer is the course's ``RMSprop(learning_rate=0.001)``.

The model and training lines are the same under both implementations: only the ``import`` differs.
Cells (``# %%``) run one at a time in PyCharm's scientific mode, VS Code or Jupyter (jupytext).
"""

# %%
import argparse
import sys

import numpy as np

import scratchnet as sn  # for the built-in data set only

parser = argparse.ArgumentParser(description="Zero to Hero lesson 5: a binary classifier")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--epochs", type=int, default=8)
parser.add_argument("--image-size", type=int, default=32, help="height and width in pixels (16-150)")
parser.add_argument("--num-train", type=int, default=None,
                    help="draw this many training hands before dropping scissors (default: all 2,520)")
parser.add_argument("--seed", type=int, default=0, help="which procedural images")
parser.add_argument("--verbose", type=int, default=1, help="fit's verbosity: 0 silent, 1 progress bar")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

# %% [markdown]
# ## The data: rock (0) or paper (1)

# %%
x_train, y_train = sn.datasets.load_rps("train", image_size=args.image_size, seed=args.seed,
                                        num_samples=args.num_train)
x_test, y_test = sn.datasets.load_rps("test", image_size=args.image_size, seed=args.seed)
keep_train, keep_test = y_train < 2, y_test < 2  # 2 is scissors
x_train, y_train = x_train[keep_train], y_train[keep_train].astype("float32")
x_test, y_test = x_test[keep_test], y_test[keep_test].astype("float32")
print(f"{len(x_train)} training and {len(x_test)} test images of {x_train.shape[1:]}: "
      f"{int(np.sum(y_train == 0))} rock, {int(np.sum(y_train == 1))} paper in training")

# %% [markdown]
# ## The model
# Two convolution blocks, a hidden Dense layer, and one sigmoid output: a number from 0 to 1.

# %%
size = args.image_size
model = K.Sequential([
    K.layers.Conv2D(16, (3, 3), activation="relu", input_shape=(size, size, 3)),
    K.layers.MaxPooling2D(2, 2),
    K.layers.Conv2D(32, (3, 3), activation="relu"),
    K.layers.MaxPooling2D(2, 2),
    K.layers.Flatten(),
    K.layers.Dense(64, activation="relu"),
    K.layers.Dense(1, activation="sigmoid"),
])
model.summary()

# %%
model.compile(loss="binary_crossentropy", optimizer=K.optimizers.RMSprop(learning_rate=0.001),
              metrics=["accuracy"])
history = model.fit(x_train, y_train, epochs=args.epochs, validation_data=(x_test, y_test),
                    verbose=args.verbose)

# %% [markdown]
# ## Rock or paper?
# The output is P(paper): above 0.5 the model says paper.

# %%
test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"test loss {test_loss:.4f}, test accuracy {test_accuracy:.4f}")
p_paper = model.predict(x_test[:6], verbose=0)[:, 0]
for p, label in zip(p_paper, y_test[:6], strict=True):
    guess = "paper" if p > 0.5 else "rock"
    print(f"P(paper) = {float(p):.3f}: {guess:<5} (really {'paper' if label == 1 else 'rock'})")
