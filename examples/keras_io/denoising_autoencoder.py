"""Keras' example "Convolutional autoencoder for image denoising", in scratchnet.

    python examples/keras_io/denoising_autoencoder.py               # scratchnet (default)
    python examples/keras_io/denoising_autoencoder.py --impl keras  # the same lines in Keras 3

Keras' example trains on MNIST, which would need a download; this one uses the handwritten digits
that ship with scikit-learn (``sn.datasets.load_digits``: 8x8 pixels in [0, 1]). The model is the
example's, a functional graph: two ``Conv2D`` + ``MaxPooling2D`` stages shrink each image to 2x2,
two ``Conv2DTranspose(strides=2)`` layers grow it back to 8x8, and a sigmoid ``Conv2D`` paints the
output; binary cross-entropy against the clean image. Trained on noisy inputs (Gaussian noise,
clipped to [0, 1]) with clean targets, it learns to remove the noise.

With ``--start-weights FILE`` both implementations start from the same weights and with
``--no-shuffle`` see the same batches: their losses then agree epoch by epoch
(``parity_tests/test_keras_io_examples.py``). Measured figures: ``examples/keras_io/README.md``.
"""

# %%
import argparse
import sys

import numpy as np

parser = argparse.ArgumentParser(description="Keras' denoising autoencoder example")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--epochs", type=int, default=50)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--filters", type=int, default=32)
parser.add_argument("--noise", type=float, default=0.4, help="standard deviation of the added noise")
parser.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                    help="batches in order every epoch (for comparing the two implementations)")
parser.add_argument("--start-weights", default=None, help=".npz of initial weights to start from")
parser.add_argument("--save-start-weights", default=None, help="write the initial weights here")
parser.add_argument("--seed", type=int, default=0, help="which noise")
parser.add_argument("--verbose", type=int, default=1, help="fit's verbosity: 0 silent, 1 progress bar")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

import scratchnet  # noqa: E402  (the digits ship with scratchnet; the model lines use K only)

# %% [markdown]
# ## Clean digits and their noisy copies

# %%
x_train, _ = scratchnet.datasets.load_digits(split="train")  # (1438, 8, 8, 1) in [0, 1]
x_test, _ = scratchnet.datasets.load_digits(split="test")
rng = np.random.default_rng(args.seed)


def noisy(images):
    return np.clip(images + args.noise * rng.normal(size=images.shape), 0, 1).astype("float32")


x_train_noisy, x_test_noisy = noisy(x_train), noisy(x_test)

# %% [markdown]
# ## The autoencoder

# %%
inputs = K.Input(shape=(8, 8, 1))
x = K.layers.Conv2D(args.filters, (3, 3), activation="relu", padding="same")(inputs)  # encoder
x = K.layers.MaxPooling2D((2, 2), padding="same")(x)
x = K.layers.Conv2D(args.filters, (3, 3), activation="relu", padding="same")(x)
x = K.layers.MaxPooling2D((2, 2), padding="same")(x)  # (2, 2, filters)
x = K.layers.Conv2DTranspose(args.filters, (3, 3), strides=2, activation="relu", padding="same")(x)
x = K.layers.Conv2DTranspose(args.filters, (3, 3), strides=2, activation="relu", padding="same")(x)
outputs = K.layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)  # decoder
autoencoder = K.Model(inputs, outputs)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
if args.start_weights:
    with np.load(args.start_weights) as start:
        autoencoder.set_weights([start[f"w{i}"] for i in range(len(start.files))])
if args.save_start_weights:
    np.savez(args.save_start_weights, **{f"w{i}": w for i, w in enumerate(autoencoder.get_weights())})
autoencoder.summary()

# %% [markdown]
# ## Noisy in, clean out

# %%
history = autoencoder.fit(x_train_noisy, x_train, epochs=args.epochs, batch_size=args.batch_size,
                          shuffle=args.shuffle, validation_data=(x_test_noisy, x_test),
                          verbose=args.verbose)
denoised = autoencoder.predict(x_test_noisy, verbose=0)
noisy_error = float(np.mean((x_test_noisy - x_test) ** 2))
denoised_error = float(np.mean((denoised - x_test) ** 2))
print(f"test mean squared error against the clean digits: noisy {noisy_error:.4f}, "
      f"denoised {denoised_error:.4f}")
