"""Zero to Hero, lesson 1: "Hello World" of machine learning -- one neuron learns y = 2x - 1.

    python examples/zero_to_hero/01_hello_world.py               # scratchnet (default)
    python examples/zero_to_hero/01_hello_world.py --impl keras  # the same lines in Keras 3

Data: the course's six points, xs = [-1, 0, 1, 2, 3, 4] and ys = 2 * xs - 1, typed in (no
download). A single Dense unit (y = w * x + b) is fitted with SGD on the mean squared error; after
500 epochs it predicts about 19 for x = 10 -- close to, but not exactly, 2 * 10 - 1, because it
learnt from six points and is still converging.

The model and training lines are the same under both implementations: only the ``import`` differs.
Cells (``# %%``) run one at a time in PyCharm's scientific mode, VS Code or Jupyter (jupytext).
"""

# %%
import argparse
import sys

import numpy as np

parser = argparse.ArgumentParser(description="Zero to Hero lesson 1: one neuron learns y = 2x - 1")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--epochs", type=int, default=500)
parser.add_argument("--initial-weights", type=float, nargs=2, metavar=("W", "B"), default=None,
                    help="start from kernel W and bias B instead of a random kernel "
                         "(the test starts both implementations from the same numbers)")
parser.add_argument("--verbose", type=int, default=1, help="fit's verbosity: 0 silent, 1 progress bar")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

# %% [markdown]
# ## The data
# Six x values and the matching y = 2x - 1. The model is not told the rule; it has to find it.

# %%
xs = np.array([-1.0, 0.0, 1.0, 2.0, 3.0, 4.0], dtype=float)
ys = np.array([-3.0, -1.0, 1.0, 3.0, 5.0, 7.0], dtype=float)

# %% [markdown]
# ## The model: one layer, one neuron
# `Dense(units=1)` computes y = x * kernel + bias, with a (1, 1) kernel and a (1,) bias.
# `input_shape=[1]`: every sample is one number.

# %%
model = K.Sequential([K.layers.Dense(units=1, input_shape=[1])])
if args.initial_weights is not None:
    w, b = args.initial_weights
    model.set_weights([np.array([[w]]), np.array([b])])  # kernel (1, 1), bias (1,)
print("initial kernel and bias:", [weights.ravel().tolist() for weights in model.get_weights()])

# %% [markdown]
# ## Compile and fit
# The loss (mean squared error) says how wrong a guess is; the optimizer (stochastic gradient
# descent, learning rate 0.01) nudges w and b to make the next guess less wrong. Each epoch is one
# pass over the six points.

# %%
model.compile(optimizer="sgd", loss="mean_squared_error")
history = model.fit(xs, ys, epochs=args.epochs, verbose=args.verbose)

# %% [markdown]
# ## Use it
# The rule says 2 * 10 - 1 = 19; the network says "very close to 19". (The course's
# `model.predict([10.0])` is TF 2 era: Keras 3 refuses a plain list, "Unrecognized data type",
# so the one number goes in as a NumPy array.)

# %%
prediction = float(model.predict(np.array([10.0]), verbose=0)[0, 0])
kernel, bias = (float(weights.ravel()[0]) for weights in model.get_weights())
print(f"loss after {args.epochs} epochs: {history.history['loss'][-1]:.6f}")
print(f"learnt y = {kernel:.4f} * x + {bias:.4f}; prediction for x = 10: {prediction:.4f}")
