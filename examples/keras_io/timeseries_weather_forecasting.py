"""Keras' example "Timeseries forecasting for weather prediction", in scratchnet.

    python examples/keras_io/timeseries_weather_forecasting.py               # scratchnet (default)
    python examples/keras_io/timeseries_weather_forecasting.py --impl keras  # the same lines in Keras 3

Keras' example reads the Jena climate record (a download: 14 quantities every 10 minutes for
eight years); this one makes a record of the same kind with NumPy, a reading every 10 minutes of
the seven quantities the example selects: pressure (mbar), temperature (degC), saturation vapour
pressure and vapour pressure deficit (mbar), specific humidity (g/kg), air density (g/m**3) and
wind speed (m/s). The temperature is a slow seasonal swing, plus weather fronts (a random process
with a memory of days), plus a daily cycle peaking mid-afternoon whose size falls under the
clouds that low pressure brings; humidity, vapour pressures and density follow from temperature
and pressure by the usual formulas (Magnus', the gas law), with noise on every reading.

Then the example's lines: each feature normalized with the training part's mean and standard
deviation, ``timeseries_dataset_from_array(sequence_length=past // step, sampling_rate=step,
batch_size=...)`` windows of the past whose target is the temperature ``future`` readings after
the window's span, an ``LSTM(32)`` and a ``Dense(1)``, Adam at 1e-3 with ``"mse"``,
``EarlyStopping(monitor="val_loss", min_delta=0, patience=5)`` and
``ModelCheckpoint(save_weights_only=True, save_best_only=True)`` to a ``.weights.h5`` file, and
``model.predict`` on validation batches taken with ``dataset_val.take(5)``. Where the example
plots, this one prints the predictions' error beside two guesses that need no model. Where it
reads a batch with ``.numpy()`` (a TensorFlow tensor's method) this one calls
``ops.convert_to_numpy``, Keras' backend-agnostic spelling; where it keeps the table in a pandas
DataFrame, this one keeps a NumPy array with the same rows and columns.

Its sizes are smaller by default (Keras': 5 days of past, ``past=720``, and batches of 256, over
eight years); the flags set them back. The dataset's order is fixed (the example's datasets do
not shuffle), so ``--no-shuffle`` changes nothing here; it is accepted so that every program takes
it. With ``--start-weights FILE`` the two implementations' losses agree epoch by epoch
(``parity_tests/test_keras_io_examples.py``). Measured figures: ``examples/keras_io/README.md``.
"""

# %%
import argparse
import sys

import numpy as np

parser = argparse.ArgumentParser(description="Keras' weather forecasting with an LSTM")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--days", type=int, default=60, help="days of readings, one every 10 minutes")
parser.add_argument("--past", type=int, default=288, help="readings in a window (Keras': 720, 5 days)")
parser.add_argument("--future", type=int, default=72, help="readings ahead to predict (12 hours)")
parser.add_argument("--step", type=int, default=6, help="the window keeps one reading in step (hourly)")
parser.add_argument("--units", type=int, default=32, help="the LSTM's units (Keras': 32)")
parser.add_argument("--epochs", type=int, default=10, help="Keras': 10")
parser.add_argument("--batch-size", type=int, default=128, help="Keras': 256")
parser.add_argument("--checkpoint", default="model_checkpoint.weights.h5", help="ModelCheckpoint's file")
parser.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                    help="accepted for the tests; the datasets keep their order anyway")
parser.add_argument("--start-weights", default=None, help=".npz of initial weights to start from")
parser.add_argument("--save-start-weights", default=None, help="write the initial weights here")
parser.add_argument("--seed", type=int, default=0, help="which weather")
parser.add_argument("--verbose", type=int, default=1, help="fit's verbosity: 0 silent, 1 progress bar")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

# %% [markdown]
# ## The weather: a reading every 10 minutes of the seven quantities the example selects

# %%
rng = np.random.default_rng(args.seed)
n = args.days * 144  # 144 readings a day
day = np.arange(n) / 144  # time in days


def slow_noise(days_memory, size):
    """A random process with a memory of ``days_memory`` days (AR(1) at 10-minute steps), unit variance."""
    a = np.exp(-1 / (days_memory * 144))
    shocks = rng.normal(size=size) * np.sqrt(1 - a**2)
    out = np.empty(size)
    out[0] = rng.normal()
    for i in range(1, size):
        out[i] = a * out[i - 1] + shocks[i]
    return out


pressure = 1000 + 8 * slow_noise(2.0, n) + 0.1 * rng.normal(size=n)  # p (mbar)
cloud = 1 / (1 + np.exp((pressure - 998) / 4))  # low pressure brings clouds
daily = np.sin(2 * np.pi * (day - 9 / 24))  # peaks at 15:00
temperature = (8 + 6 * np.sin(2 * np.pi * day / 365) + 3 * slow_noise(3.0, n)
               + 5 * (1 - 0.7 * cloud) * daily + 0.2 * rng.normal(size=n))  # T (degC)
humidity = np.clip(0.6 + 0.3 * cloud - 0.15 * daily + 0.05 * rng.normal(size=n), 0.1, 1.0)
vp_max = 6.1078 * np.exp(17.27 * temperature / (temperature + 237.3))  # Magnus' formula (mbar)
vp_act = humidity * vp_max
vp_def = vp_max - vp_act  # VPdef (mbar)
specific_humidity = 622 * vp_act / (pressure - 0.378 * vp_act)  # sh (g/kg)
density = pressure * 100 / (287.05 * (temperature + 273.15)) * 1000  # rho (g/m**3)
wind = np.abs(1.5 + 1.5 * slow_noise(0.5, n) + 2 * cloud + 0.3 * rng.normal(size=n))  # wv (m/s)
feature_keys = ["p (mbar)", "T (degC)", "VPmax (mbar)", "VPdef (mbar)", "sh (g/kg)", "rho (g/m**3)",
                "wv (m/s)"]
features = np.stack([pressure, temperature, vp_max, vp_def, specific_humidity, density, wind], axis=1)
print(f"{n} readings of {len(feature_keys)} features: {', '.join(feature_keys)}")

# %% [markdown]
# ## Data preprocessing, as the example does it

# %%
split_fraction = 0.715
train_split = int(split_fraction * int(features.shape[0]))
step = args.step

past = args.past
future = args.future
learning_rate = 0.001
batch_size = args.batch_size
epochs = args.epochs


def normalize(data, train_split):
    data_mean = data[:train_split].mean(axis=0)
    data_std = data[:train_split].std(axis=0)
    return (data - data_mean) / data_std


features = normalize(features, train_split).astype("float32")
train_data = features[0:train_split]
val_data = features[train_split:]

start = past + future
end = start + train_split

x_train = train_data[:, [i for i in range(7)]]
y_train = features[start:end][:, [1]]

sequence_length = int(past / step)

dataset_train = K.utils.timeseries_dataset_from_array(
    x_train,
    y_train,
    sequence_length=sequence_length,
    sampling_rate=step,
    batch_size=batch_size,
)

# %% [markdown]
# ## Validation dataset

# %%
x_end = len(val_data) - past - future

label_start = train_split + past + future

x_val = val_data[:x_end][:, [i for i in range(7)]]
y_val = features[label_start:][:, [1]]

dataset_val = K.utils.timeseries_dataset_from_array(
    x_val,
    y_val,
    sequence_length=sequence_length,
    sampling_rate=step,
    batch_size=batch_size,
)


for batch in dataset_train.take(1):
    inputs, targets = batch

print("Input shape:", K.ops.convert_to_numpy(inputs).shape)
print("Target shape:", K.ops.convert_to_numpy(targets).shape)

# %% [markdown]
# ## Training

# %%
inputs = K.layers.Input(shape=(inputs.shape[1], inputs.shape[2]))
lstm_out = K.layers.LSTM(args.units)(inputs)
outputs = K.layers.Dense(1)(lstm_out)

model = K.Model(inputs=inputs, outputs=outputs)
if args.start_weights:
    with np.load(args.start_weights) as start_weights:
        model.set_weights([start_weights[f"w{i}"] for i in range(len(start_weights.files))])
if args.save_start_weights:
    np.savez(args.save_start_weights, **{f"w{i}": w for i, w in enumerate(model.get_weights())})
model.compile(optimizer=K.optimizers.Adam(learning_rate=learning_rate), loss="mse")
model.summary()

# %%
path_checkpoint = args.checkpoint
es_callback = K.callbacks.EarlyStopping(monitor="val_loss", min_delta=0, patience=5)

modelckpt_callback = K.callbacks.ModelCheckpoint(
    monitor="val_loss",
    filepath=path_checkpoint,
    verbose=args.verbose,
    save_weights_only=True,
    save_best_only=True,
)

history = model.fit(
    dataset_train,
    epochs=epochs,
    validation_data=dataset_val,
    callbacks=[es_callback, modelckpt_callback],
    verbose=args.verbose,
)

# %% [markdown]
# ## Prediction: the best checkpoint on five validation batches
#
# The example plots the history of one window, its true future temperature and the prediction;
# here the best weights (read back from the checkpoint) predict five validation batches, and their
# mean squared error stands beside two guesses without a model: the temperature at the window's
# last reading, and the temperature one day before the target (the same time of day).

# %%
model.load_weights(path_checkpoint)
day_before_index = (past + future - 144) // step  # the window's reading 144 (a day) before the target
truths, predictions, last_readings, day_before = [], [], [], []
for x, y in dataset_val.take(5):
    x, y = K.ops.convert_to_numpy(x), K.ops.convert_to_numpy(y)
    predictions.append(model.predict(x, verbose=0)[:, 0])
    truths.append(y[:, 0])
    last_readings.append(x[:, -1, 1])
    day_before.append(x[:, min(max(day_before_index, 0), sequence_length - 1), 1])
truths, predictions = np.concatenate(truths), np.concatenate(predictions)
mse_model = float(np.mean((predictions - truths) ** 2))
mse_last = float(np.mean((np.concatenate(last_readings) - truths) ** 2))
mse_day_before = float(np.mean((np.concatenate(day_before) - truths) ** 2))
print(f"best val_loss {min(history.history['val_loss']):.4f} after {len(history.history['loss'])} epochs")
print(f"temperature {future} readings ahead, mean squared error (normalized units) on "
      f"{len(truths)} validation windows: the LSTM {mse_model:.4f}; the last reading "
      f"{mse_last:.4f}; a day before the target {mse_day_before:.4f}")
