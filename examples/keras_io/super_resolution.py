"""Keras' example "Image Super-Resolution using an Efficient Sub-Pixel CNN", in scratchnet.

    python examples/keras_io/super_resolution.py               # scratchnet (default)
    python examples/keras_io/super_resolution.py --impl keras  # the same lines in Keras 3

Keras' example trains on the BSDS500 photographs, which would need a download; this one paints
its own grey images (smooth waves, soft blobs and sharp-edged rectangles, so there is detail to
recover). As in the example, the model sees each image shrunk ``--upscale`` times (the mean of
each ``upscale x upscale`` block, TensorFlow's "area" resize for a whole factor) and learns to
paint it back at full size: ``Input((None, None, 1))``, four ``Conv2D`` layers (orthogonal
initializer, ReLU, "same" padding), the last with ``upscale**2`` channels, and
``ops.depth_to_space`` (the sub-pixel step, ESPCN) arranging those channels into
``upscale x upscale`` blocks of pixels. Mean squared error, Adam.

The model has no size of its own: it trains on small crops and then upscales a whole image
several times larger, which it has never seen at that size. The score is the peak
signal-to-noise ratio (PSNR, in dB, higher is better) against the original, beside the PSNR of
the shrunk image blown up by repeating each pixel.

With ``--start-weights FILE`` both implementations start from the same weights and with
``--no-shuffle`` see the same batches: their losses then agree epoch by epoch
(``parity_tests/test_keras_io_examples.py``). Measured figures: ``examples/keras_io/README.md``.
"""

# %%
import argparse
import sys

import numpy as np

parser = argparse.ArgumentParser(description="Keras' sub-pixel CNN super-resolution example")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--upscale", type=int, default=3, help="the upscale factor")
parser.add_argument("--crop", type=int, default=24, help="training crops are crop x crop pixels")
parser.add_argument("--images", type=int, default=60, help="generated images to crop from")
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--filters", type=int, default=64, help="the first two layers' filters (half: the third)")
parser.add_argument("--learning-rate", type=float, default=1e-3)
parser.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                    help="batches in order every epoch (for comparing the two implementations)")
parser.add_argument("--start-weights", default=None, help=".npz of initial weights to start from")
parser.add_argument("--save-start-weights", default=None, help="write the initial weights here")
parser.add_argument("--seed", type=int, default=0, help="which images")
parser.add_argument("--verbose", type=int, default=1, help="fit's verbosity: 0 silent, 1 progress bar")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

# %% [markdown]
# ## Generated images, their crops, and the crops shrunk

# %%
rng = np.random.default_rng(args.seed)


def paint(height, width):
    """One grey image in [0, 1]: a few waves, soft blobs and sharp rectangles."""
    rows, cols = np.mgrid[0:height, 0:width].astype("float64")
    image = np.zeros((height, width))
    for _ in range(3):
        fr, fc, phase = rng.uniform(0.05, 0.5), rng.uniform(0.05, 0.5), rng.uniform(0, 2 * np.pi)
        image += 0.15 * np.sin(fr * rows + fc * cols + phase)
    for _ in range(4):
        r, c, s = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(2, 8)
        image += rng.uniform(-0.5, 0.5) * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * s * s))
    for _ in range(4):
        top, left = rng.integers(0, height - 4), rng.integers(0, width - 4)
        tall, wide = rng.integers(3, max(4, height // 3)), rng.integers(3, max(4, width // 3))
        image[top:top + tall, left:left + wide] += rng.uniform(-0.4, 0.4)
    return np.clip(0.5 + image, 0, 1)


def shrink(images, factor):
    """The mean of each factor x factor block: (N, H, W, 1) -> (N, H/factor, W/factor, 1)."""
    n, h, w, c = images.shape
    return images.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def crops_of(images, size, per_image):
    out = []
    for image in images:
        for _ in range(per_image):
            top = rng.integers(0, image.shape[0] - size + 1)
            left = rng.integers(0, image.shape[1] - size + 1)
            out.append(image[top:top + size, left:left + size])
    return np.stack(out)[..., None].astype("float32")  # (N, size, size, 1)


images = [paint(4 * args.crop, 4 * args.crop) for _ in range(args.images)]
split = int(0.8 * len(images))
y_train = crops_of(images[:split], args.crop, 8)  # the targets: full-size crops
y_val = crops_of(images[split:], args.crop, 8)
x_train, x_val = shrink(y_train, args.upscale), shrink(y_val, args.upscale)  # what the model sees
print(f"training crops {x_train.shape} -> {y_train.shape}; validation {x_val.shape} -> {y_val.shape}")

# %% [markdown]
# ## The sub-pixel CNN: any image size in, upscale times larger out

# %%
conv_args = {"activation": "relu", "kernel_initializer": "orthogonal", "padding": "same"}
inputs = K.Input(shape=(None, None, 1))
x = K.layers.Conv2D(args.filters, 5, **conv_args)(inputs)
x = K.layers.Conv2D(args.filters, 3, **conv_args)(x)
x = K.layers.Conv2D(args.filters // 2, 3, **conv_args)(x)
x = K.layers.Conv2D(args.upscale**2, 3, **conv_args)(x)
outputs = K.ops.depth_to_space(x, args.upscale)  # (H, W, upscale**2) -> (H*upscale, W*upscale, 1)
model = K.Model(inputs, outputs)
model.compile(optimizer=K.optimizers.Adam(learning_rate=args.learning_rate), loss="mean_squared_error")
if args.start_weights:
    with np.load(args.start_weights) as start:
        model.set_weights([start[f"w{i}"] for i in range(len(start.files))])
if args.save_start_weights:
    np.savez(args.save_start_weights, **{f"w{i}": w for i, w in enumerate(model.get_weights())})
model.summary()

# %% [markdown]
# ## Train on small crops, then upscale a whole new image

# %%
history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                    shuffle=args.shuffle, validation_data=(x_val, y_val), verbose=args.verbose)


def psnr(image, truth):
    return float(10 * np.log10(1.0 / np.mean((image - truth) ** 2)))


test_image = paint(6 * args.crop, 4 * args.crop)[None, :, :, None].astype("float32")  # never seen
small = shrink(test_image, args.upscale)
upscaled = model.predict(small, verbose=0)  # the model's first image of this size
repeated = np.repeat(np.repeat(small, args.upscale, axis=1), args.upscale, axis=2)
psnr_model, psnr_repeated = psnr(upscaled, test_image), psnr(repeated, test_image)
print(f"a {small.shape[1]}x{small.shape[2]} image upscaled to {upscaled.shape[1]}x{upscaled.shape[2]}: "
      f"PSNR {psnr_model:.2f} dB (pixels repeated: {psnr_repeated:.2f} dB)")
