"""Zero to Hero, lesson 2: computer vision with a dense network, and a callback that stops training.

    python examples/zero_to_hero/02_dense_classifier.py               # scratchnet (default)
    python examples/zero_to_hero/02_dense_classifier.py --impl keras  # the same lines in Keras 3

Data: the course uses Fashion-MNIST (28x28 clothing pictures), a download. This machine cannot
download, so the lesson uses scratchnet's built-in handwritten digits instead
(``sn.datasets.load_digits``: scikit-learn's 1,797 real 8x8 greyscale images of 0-9, scaled to
[0, 1]); the network is the course's: Flatten -> Dense(128, relu) -> Dense(10, softmax).

The course's callback watches the training accuracy at the end of every epoch and sets
``model.stop_training = True`` once it passes a threshold ("stop at 99% accuracy"), so ``fit``
ends early instead of running every epoch.

The model and training lines are the same under both implementations: only the ``import`` differs.
Cells (``# %%``) run one at a time in PyCharm's scientific mode, VS Code or Jupyter (jupytext).
"""

# %%
import argparse
import sys

import numpy as np

import scratchnet as sn  # for the built-in data set only

parser = argparse.ArgumentParser(description="Zero to Hero lesson 2: a dense classifier with a callback")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--epochs", type=int, default=50, help="at most this many epochs")
parser.add_argument("--threshold", type=float, default=0.99,
                    help="stop once the training accuracy passes this")
parser.add_argument("--verbose", type=int, default=1, help="fit's verbosity: 0 silent, 1 progress bar")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

# %% [markdown]
# ## The data
# Images of shape (8, 8) with values in [0, 1] (Fashion-MNIST needs `/ 255.0` first; the digits
# come scaled) and integer labels 0-9. The channel axis is dropped: Flatten does not need it.

# %%
x_train, y_train = sn.datasets.load_digits("train")
x_test, y_test = sn.datasets.load_digits("test")
x_train, x_test = x_train[..., 0], x_test[..., 0]  # (N, 8, 8, 1) -> (N, 8, 8)
print(f"{len(x_train)} training images {x_train.shape[1:]}, {len(x_test)} test images, "
      f"labels {np.unique(y_train).tolist()}")

# %% [markdown]
# ## The callback
# Keras calls `on_epoch_end` after every epoch with that epoch's logs. Setting
# `self.model.stop_training = True` tells `fit` to stop after this epoch.

# %%
class MyCallback(K.callbacks.Callback):
    def __init__(self, threshold):
        super().__init__()
        self.threshold = threshold

    def on_epoch_end(self, epoch, logs=None):
        if logs["accuracy"] > self.threshold:
            print(f"\nReached {self.threshold:.0%} accuracy so cancelling training!")
            self.model.stop_training = True


callbacks = MyCallback(args.threshold)

# %% [markdown]
# ## The model
# Flatten turns each 8x8 image into 64 numbers; 128 ReLU units learn features of them; the 10
# softmax units give one probability per digit.

# %%
model = K.Sequential([
    K.layers.Flatten(input_shape=(8, 8)),
    K.layers.Dense(128, activation="relu"),
    K.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, epochs=args.epochs, callbacks=[callbacks], verbose=args.verbose)

# %% [markdown]
# ## How good is it on images it never saw?

# %%
epochs_run = len(history.history["loss"])
test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"stopped after {epochs_run} of {args.epochs} epochs at training accuracy "
      f"{history.history['accuracy'][-1]:.4f}; test accuracy {test_accuracy:.4f}")
classifications = model.predict(x_test[:1], verbose=0)
print(f"first test image: probabilities {np.round(classifications[0].astype(float), 3).tolist()}, "
      f"predicted {int(np.argmax(classifications[0]))}, label {int(y_test[0])}")
