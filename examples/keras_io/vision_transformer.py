"""Keras' example "Image classification with Vision Transformer", in scratchnet.

    python examples/keras_io/vision_transformer.py               # scratchnet (default)
    python examples/keras_io/vision_transformer.py --impl keras  # the same lines in Keras 3

Keras' example trains a ViT (Dosovitskiy et al., 2021) on CIFAR-100 (a download). This one makes
small images of the same form (``(N, size, size, 3)`` uint8 pixels, integer labels ``(N, 1)``):
``--classes`` colours, class ``k`` a blob of colour ``k`` (an ellipse of random size and place) on a
noisy grey background, so that the label survives the example's flips, rotations and zooms. Then the
example's lines: a ``data_augmentation`` ``Sequential`` (``Normalization`` adapted to the training
images, ``Resizing``, ``RandomFlip("horizontal")``, ``RandomRotation(0.02)``, ``RandomZoom(0.2,
0.2)``); its ``Patches`` layer (``keras.ops.image.extract_patches`` and ``ops.reshape``) and
``PatchEncoder`` layer (a ``Dense`` projection plus an ``Embedding`` of ``ops.arange`` positions);
transformer blocks of ``LayerNormalization(epsilon=1e-6)``, ``MultiHeadAttention`` (with dropout),
``layers.Add`` and a gelu MLP with ``Dropout``; a ``Flatten`` representation and a gelu MLP head;
``AdamW(learning_rate, weight_decay)``, ``SparseCategoricalCrossentropy(from_logits=True)``,
``SparseCategoricalAccuracy`` and ``SparseTopKCategoricalAccuracy(5)``; a
``ModelCheckpoint(save_best_only=True, save_weights_only=True)`` on ``val_accuracy`` to a
``.weights.h5`` file, ``load_weights`` of it, and ``evaluate``. Smaller by default (Keras': 32x32
images resized to 72, 144 patches, 8 blocks of 64 dimensions and 4 heads, a head of 2,048 and
1,024 units, batches of 256; ``--image-size``, ``--projection-dim``, ``--transformer-layers``,
``--mlp-head-units`` and the other flags set them back).

With ``--start-weights FILE``, ``--no-shuffle``, ``--no-augment`` (the random flips, rotations and
zooms draw different numbers in each library; ``Normalization`` and ``Resizing`` stay) and
``--dropout 0`` the two implementations' losses agree epoch by epoch
(``parity_tests/test_keras_io_examples.py``). Measured figures: ``examples/keras_io/README.md``.
"""

# %%
import argparse
import sys

import numpy as np

parser = argparse.ArgumentParser(description="Keras' image classification with Vision Transformer")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--train-size", type=int, default=1000)
parser.add_argument("--test-size", type=int, default=200)
parser.add_argument("--classes", type=int, default=10, help="how many colours (the example's 100 classes)")
parser.add_argument("--input-size", type=int, default=16, help="the generated images' height and width")
parser.add_argument("--image-size", type=int, default=24, help="what Resizing makes them (the example's 72)")
parser.add_argument("--patch-size", type=int, default=6)
parser.add_argument("--projection-dim", type=int, default=16)
parser.add_argument("--num-heads", type=int, default=2)
parser.add_argument("--transformer-layers", type=int, default=2)
parser.add_argument("--mlp-head-units", default="64,32", help="the classifier head's Dense layers")
parser.add_argument("--dropout", type=float, default=0.1, help="in the blocks (the head: 5 times it)")
parser.add_argument("--no-augment", dest="augment", action="store_false",
                    help="leave out the random layers (for comparing the two implementations)")
parser.add_argument("--learning-rate", type=float, default=0.001)
parser.add_argument("--weight-decay", type=float, default=0.0001)
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--checkpoint", default="vit_checkpoint.weights.h5",
                    help="the .weights.h5 file ModelCheckpoint keeps the best weights in (best val_accuracy)")
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

layers, ops = K.layers, K.ops

# %% [markdown]
# ## Prepare the data: a blob of the class's colour on a noisy grey background

# %%
num_classes = args.classes
input_shape = (args.input_size, args.input_size, 3)
rng = np.random.default_rng(args.seed)
palette = rng.uniform(0, 255, (num_classes, 3))  # class k's colour


def make_images(n):
    labels = rng.integers(0, num_classes, (n, 1))
    size = args.input_size
    rows, cols = np.mgrid[:size, :size]
    images = rng.normal(128, 30, (n, size, size, 3))
    for image, label in zip(images, labels[:, 0], strict=True):
        half_height, half_width = rng.uniform(0.15, 0.35, 2) * size
        centre_row, centre_col = rng.uniform(0.3, 0.7, 2) * size
        inside = ((rows - centre_row) / half_height) ** 2 + ((cols - centre_col) / half_width) ** 2 < 1
        image[inside] = palette[label] + rng.normal(0, 10, (int(inside.sum()), 3))
    return np.clip(images, 0, 255).astype("uint8"), labels


(x_train, y_train), (x_test, y_test) = make_images(args.train_size), make_images(args.test_size)

print(f"x_train shape: {x_train.shape} - y_train shape: {y_train.shape}")
print(f"x_test shape: {x_test.shape} - y_test shape: {y_test.shape}")

# %% [markdown]
# ## Configure the hyperparameters

# %%
learning_rate = args.learning_rate
weight_decay = args.weight_decay
batch_size = args.batch_size
num_epochs = args.epochs
image_size = args.image_size  # We'll resize input images to this size
patch_size = args.patch_size  # Size of the patches to be extract from the input images
num_patches = (image_size // patch_size) ** 2
projection_dim = args.projection_dim
num_heads = args.num_heads
transformer_units = [
    projection_dim * 2,
    projection_dim,
]  # Size of the transformer layers
transformer_layers = args.transformer_layers
# Size of the dense layers of the final classifier
mlp_head_units = [int(n) for n in args.mlp_head_units.split(",")]

# %% [markdown]
# ## Use data augmentation

# %%
data_augmentation = K.Sequential(
    [
        layers.Normalization(),
        layers.Resizing(image_size, image_size),
    ] + ([
        layers.RandomFlip("horizontal"),
        layers.RandomRotation(factor=0.02),
        layers.RandomZoom(height_factor=0.2, width_factor=0.2),
    ] if args.augment else []),
    name="data_augmentation",
)
# Compute the mean and the variance of the training data for normalization.
data_augmentation.layers[0].adapt(x_train)

# %% [markdown]
# ## Implement multilayer perceptron (MLP)

# %%
def mlp(x, hidden_units, dropout_rate):
    for units in hidden_units:
        x = layers.Dense(units, activation=K.activations.gelu)(x)
        x = layers.Dropout(dropout_rate)(x)
    return x


# %% [markdown]
# ## Implement patch creation as a layer

# %%
class Patches(layers.Layer):
    def __init__(self, patch_size):
        super().__init__()
        self.patch_size = patch_size

    def call(self, images):
        input_shape = ops.shape(images)
        batch_size = input_shape[0]
        height = input_shape[1]
        width = input_shape[2]
        channels = input_shape[3]
        num_patches_h = height // self.patch_size
        num_patches_w = width // self.patch_size
        patches = K.ops.image.extract_patches(images, size=self.patch_size)
        patches = ops.reshape(
            patches,
            (
                batch_size,
                num_patches_h * num_patches_w,
                self.patch_size * self.patch_size * channels,
            ),
        )
        return patches

    def get_config(self):
        config = super().get_config()
        config.update({"patch_size": self.patch_size})
        return config


# Display patches for a sample image (the example plots them; here their count and size)
image = x_train[np.random.choice(range(x_train.shape[0]))]
resized_image = ops.image.resize(
    ops.convert_to_tensor([image]), size=(image_size, image_size)
)
patches = Patches(patch_size)(resized_image)
print(f"Image size: {image_size} X {image_size}")
print(f"Patch size: {patch_size} X {patch_size}")
print(f"Patches per image: {patches.shape[1]}")
print(f"Elements per patch: {patches.shape[-1]}")

# %% [markdown]
# ## Implement the patch encoding layer

# %%
class PatchEncoder(layers.Layer):
    def __init__(self, num_patches, projection_dim):
        super().__init__()
        self.num_patches = num_patches
        self.projection = layers.Dense(units=projection_dim)
        self.position_embedding = layers.Embedding(
            input_dim=num_patches, output_dim=projection_dim
        )

    def call(self, patch):
        positions = ops.expand_dims(
            ops.arange(start=0, stop=self.num_patches, step=1), axis=0
        )
        projected_patches = self.projection(patch)
        encoded = projected_patches + self.position_embedding(positions)
        return encoded

    def get_config(self):
        config = super().get_config()
        config.update({"num_patches": self.num_patches})
        return config


# %% [markdown]
# ## Build the ViT model

# %%
def create_vit_classifier():
    inputs = K.Input(shape=input_shape)
    # Augment data.
    augmented = data_augmentation(inputs)
    # Create patches.
    patches = Patches(patch_size)(augmented)
    # Encode patches.
    encoded_patches = PatchEncoder(num_patches, projection_dim)(patches)

    # Create multiple layers of the Transformer block.
    for _ in range(transformer_layers):
        # Layer normalization 1.
        x1 = layers.LayerNormalization(epsilon=1e-6)(encoded_patches)
        # Create a multi-head attention layer.
        attention_output = layers.MultiHeadAttention(
            num_heads=num_heads, key_dim=projection_dim, dropout=args.dropout
        )(x1, x1)
        # Skip connection 1.
        x2 = layers.Add()([attention_output, encoded_patches])
        # Layer normalization 2.
        x3 = layers.LayerNormalization(epsilon=1e-6)(x2)
        # MLP.
        x3 = mlp(x3, hidden_units=transformer_units, dropout_rate=args.dropout)
        # Skip connection 2.
        encoded_patches = layers.Add()([x3, x2])

    # Create a [batch_size, projection_dim] tensor.
    representation = layers.LayerNormalization(epsilon=1e-6)(encoded_patches)
    representation = layers.Flatten()(representation)
    representation = layers.Dropout(5 * args.dropout)(representation)
    # Add MLP.
    features = mlp(representation, hidden_units=mlp_head_units, dropout_rate=5 * args.dropout)
    # Classify outputs.
    logits = layers.Dense(num_classes)(features)
    # Create the Keras model.
    model = K.Model(inputs=inputs, outputs=logits)
    return model


# %% [markdown]
# ## Compile, train, and evaluate the mode

# %%
def run_experiment(model):
    optimizer = K.optimizers.AdamW(
        learning_rate=learning_rate, weight_decay=weight_decay
    )

    model.compile(
        optimizer=optimizer,
        loss=K.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[
            K.metrics.SparseCategoricalAccuracy(name="accuracy"),
            K.metrics.SparseTopKCategoricalAccuracy(5, name="top-5-accuracy"),
        ],
    )

    checkpoint_filepath = args.checkpoint
    checkpoint_callback = K.callbacks.ModelCheckpoint(
        checkpoint_filepath,
        monitor="val_accuracy",
        save_best_only=True,
        save_weights_only=True,
    )

    history = model.fit(
        x=x_train,
        y=y_train,
        batch_size=batch_size,
        epochs=num_epochs,
        validation_split=0.1,
        callbacks=[checkpoint_callback],
        shuffle=args.shuffle,
        verbose=args.verbose,
    )

    model.load_weights(checkpoint_filepath)
    _, accuracy, top_5_accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"Test accuracy: {round(accuracy * 100, 2)}%")
    print(f"Test top 5 accuracy: {round(top_5_accuracy * 100, 2)}%")

    return history


K.utils.set_random_seed(args.seed)  # the same initial weights run after run
vit_classifier = create_vit_classifier()
if args.start_weights:
    with np.load(args.start_weights) as start:
        vit_classifier.set_weights([start[f"w{i}"] for i in range(len(start.files))])
if args.save_start_weights:
    np.savez(args.save_start_weights, **{f"w{i}": w for i, w in enumerate(vit_classifier.get_weights())})
history = run_experiment(vit_classifier)
score = vit_classifier.evaluate(x_test, y_test, verbose=0)  # [loss, accuracy, top-5 accuracy]
