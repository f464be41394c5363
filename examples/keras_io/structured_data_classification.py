"""Keras' example "Structured data classification with FeatureSpace", in scratchnet.

    python examples/keras_io/structured_data_classification.py               # scratchnet (default)
    python examples/keras_io/structured_data_classification.py --impl keras  # the same lines in Keras 3

Keras' example predicts heart disease from the Cleveland Clinic's ``heart.csv`` (a download of 303
rows, read with pandas); this one makes ``--rows`` rows of the same thirteen columns with NumPy
(integers where the file has integers, ``oldpeak`` a float, ``thal`` one of the strings "fixed",
"normal", "reversible"), the ``target`` drawn from a logistic rule over some of them. It keeps the
columns as a dict of arrays, as ``dict(dataframe)`` gives them (no pandas and no ``tf.data`` here:
``FeatureSpace.adapt`` takes the dict, and calling the FeatureSpace on it preprocesses all rows at
once, where the example maps it over a ``tf.data.Dataset``). Then the example's lines: a
``FeatureSpace`` of ``integer_categorical(num_oov_indices=0)``, ``string_categorical(
num_oov_indices=0)``, ``float_discretized(num_bins=30)`` and ``float_normalized()`` features with two
``FeatureSpace.cross`` features, ``output_mode="concat"``; a training model from
``get_encoded_features()`` (``Dense(32)``, ``Dropout(0.5)``, one sigmoid unit) and an inference
model from ``get_inputs()``, a dict of inputs, to the same output, asked about one new patient with
``ops.convert_to_tensor``.

With ``--start-weights FILE``, ``--no-shuffle`` and ``--dropout 0`` (dropout draws different numbers
in each library) the two implementations' losses agree epoch by epoch
(``parity_tests/test_keras_io_examples.py``). Measured figures: ``examples/keras_io/README.md``.
"""

# %%
import argparse
import sys

import numpy as np

parser = argparse.ArgumentParser(description="Keras' structured data classification with FeatureSpace")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--rows", type=int, default=1500, help="patients (Keras' file: 303)")
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--units", type=int, default=32)
parser.add_argument("--dropout", type=float, default=0.5)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                    help="batches in order every epoch (for comparing the two implementations)")
parser.add_argument("--start-weights", default=None, help=".npz of initial weights to start from")
parser.add_argument("--save-start-weights", default=None, help="write the initial weights here")
parser.add_argument("--seed", type=int, default=0, help="which patients")
parser.add_argument("--verbose", type=int, default=2, help="fit's verbosity: 0 silent, 2 a line per epoch")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

FeatureSpace = K.utils.FeatureSpace

# %% [markdown]
# ## The patients: heart.csv's thirteen columns, generated

# %%
rng = np.random.default_rng(args.seed)
n = args.rows
table = {
    "age": rng.integers(29, 78, n),
    "sex": rng.integers(0, 2, n),
    "cp": rng.choice([0, 1, 2, 3, 4], n, p=[0.05, 0.1, 0.2, 0.2, 0.45]),
    "trestbps": rng.normal(131, 17, n).round().astype(int),
    "chol": rng.normal(246, 51, n).round().astype(int),
    "fbs": (rng.random(n) < 0.15).astype(int),
    "restecg": rng.choice([0, 1, 2], n, p=[0.5, 0.02, 0.48]),
    "thalach": rng.normal(150, 23, n).round().astype(int),
    "exang": (rng.random(n) < 0.33).astype(int),
    "oldpeak": np.abs(rng.normal(0, 1.4, n)).round(1),
    "slope": rng.choice([1, 2, 3], n, p=[0.47, 0.46, 0.07]),
    "ca": rng.choice([0, 1, 2, 3], n, p=[0.58, 0.22, 0.13, 0.07]),
    "thal": rng.choice(["fixed", "normal", "reversible"], n, p=[0.06, 0.55, 0.39]),
}
logit = (0.06 * (table["age"] - 54) + 0.8 * table["sex"] + 0.9 * (table["cp"] == 4)
         - 0.03 * (table["thalach"] - 150) + 1.1 * table["exang"] + 0.6 * table["oldpeak"]
         + 0.9 * table["ca"] + 1.4 * (table["thal"] == "reversible") - 2.0)
table["target"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
print(f"{n} patients, {table['target'].mean():.0%} with heart disease")

# %% [markdown]
# ## A validation fifth, and the labels apart

# %%
val_rows = np.random.RandomState(1337).permutation(n)[:n // 5]
is_val = np.isin(np.arange(n), val_rows)
val_table = {name: column[is_val] for name, column in table.items()}
train_table = {name: column[~is_val] for name, column in table.items()}
print(f"Using {len(train_table['age'])} samples for training and {len(val_table['age'])} for validation")


def split_labels(columns):
    columns = dict(columns)
    labels = columns.pop("target")
    return columns, labels


train_features, train_labels = split_labels(train_table)
val_features, val_labels = split_labels(val_table)

# %% [markdown]
# ## Configuring a FeatureSpace

# %%
feature_space = FeatureSpace(
    features={
        # Categorical features encoded as integers
        "sex": FeatureSpace.integer_categorical(num_oov_indices=0),
        "cp": FeatureSpace.integer_categorical(num_oov_indices=0),
        "fbs": FeatureSpace.integer_categorical(num_oov_indices=0),
        "restecg": FeatureSpace.integer_categorical(num_oov_indices=0),
        "exang": FeatureSpace.integer_categorical(num_oov_indices=0),
        "ca": FeatureSpace.integer_categorical(num_oov_indices=0),
        # Categorical feature encoded as string
        "thal": FeatureSpace.string_categorical(num_oov_indices=0),
        # Numerical features to discretize
        "age": FeatureSpace.float_discretized(num_bins=30),
        # Numerical features to normalize
        "trestbps": FeatureSpace.float_normalized(),
        "chol": FeatureSpace.float_normalized(),
        "thalach": FeatureSpace.float_normalized(),
        "oldpeak": FeatureSpace.float_normalized(),
        "slope": FeatureSpace.float_normalized(),
    },
    # Specify feature cross with a custom crossing dim.
    crosses=[
        FeatureSpace.cross(feature_names=("sex", "age"), crossing_dim=64),
        FeatureSpace.cross(
            feature_names=("thal", "ca"),
            crossing_dim=16,
        ),
    ],
    output_mode="concat",
)

# %% [markdown]
# ## Adapt the FeatureSpace to the training data, then preprocess

# %%
feature_space.adapt(train_features)

preprocessed_train = feature_space(train_features)
preprocessed_val = feature_space(val_features)
print("preprocessed features:", tuple(preprocessed_train.shape))

# %% [markdown]
# ## Build a model

# %%
dict_inputs = feature_space.get_inputs()
encoded_features = feature_space.get_encoded_features()

x = K.layers.Dense(args.units, activation="relu")(encoded_features)
x = K.layers.Dropout(args.dropout)(x)
predictions = K.layers.Dense(1, activation="sigmoid")(x)

training_model = K.Model(inputs=encoded_features, outputs=predictions)
training_model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])

inference_model = K.Model(inputs=dict_inputs, outputs=predictions)
if args.start_weights:
    with np.load(args.start_weights) as start:
        training_model.set_weights([start[f"w{i}"] for i in range(len(start.files))])
if args.save_start_weights:
    np.savez(args.save_start_weights, **{f"w{i}": w for i, w in enumerate(training_model.get_weights())})
training_model.summary()

# %% [markdown]
# ## Train the model

# %%
history = training_model.fit(
    preprocessed_train,
    train_labels,
    batch_size=args.batch_size,
    epochs=args.epochs,
    validation_data=(preprocessed_val, val_labels),
    shuffle=args.shuffle,
    verbose=args.verbose,
)
print(f"validation accuracy {history.history['val_accuracy'][-1]:.4f} after {args.epochs} epochs "
      f"(the majority class: {max(val_labels.mean(), 1 - val_labels.mean()):.4f})")

# %% [markdown]
# ## Inference on new data with the end-to-end model

# %%
sample = {
    "age": 60,
    "sex": 1,
    "cp": 1,
    "trestbps": 145,
    "chol": 233,
    "fbs": 1,
    "restecg": 2,
    "thalach": 150,
    "exang": 0,
    "oldpeak": 2.3,
    "slope": 3,
    "ca": 0,
    "thal": "fixed",
}

input_dict = {name: K.ops.convert_to_tensor([value]) for name, value in sample.items()}
predictions = inference_model.predict(input_dict, verbose=0)

print(
    f"This particular patient had a {100 * predictions[0][0]:.2f}% probability "
    "of having a heart disease, as evaluated by our model."
)
