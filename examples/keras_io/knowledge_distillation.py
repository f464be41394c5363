"""Keras' example "Knowledge Distillation", in scratchnet.

    python examples/keras_io/knowledge_distillation.py               # scratchnet (default)
    python examples/keras_io/knowledge_distillation.py --impl keras  # the same lines in Keras 3

Keras' example (Hinton et al., 2015) writes its own ``Distiller(keras.Model)``: ``__init__`` keeps a
teacher and a student model, ``compile`` is overridden to take a student loss, a distillation loss,
``alpha`` and a temperature besides the optimizer and metrics, ``compute_loss(x, y, y_pred, ...)``
is overridden to return ``alpha * student_loss(y, y_pred) + (1 - alpha) * T**2 *
KLDivergence(softmax(teacher(x) / T), softmax(y_pred / T))``, and ``call`` runs the student. A
convnet teacher (``Conv2D`` + ``LeakyReLU`` + ``MaxPooling2D(strides=1, padding="same")`` +
``Conv2D``, ``Flatten``, ``Dense(10)`` logits) is trained on MNIST (a download), then distilled into
a smaller student of the same form, and a ``clone_model`` of the student is trained from scratch
for comparison. This one uses the handwritten digits that ship with scikit-learn
(``scratchnet.datasets.load_digits``: 8x8 pixels in [0, 1]), each pixel repeated ``--scale`` times
in both directions (16x16 images by default), and smaller teacher filters (``--teacher-filters``,
the example's 256 and 512) so that NumPy trains it in seconds; the student's (16, 32) and the
epochs (5 for the teacher, 3 for the distillation and for the student from scratch) are the
example's.

Note what Keras' example does: its teacher's weights are among the distiller's trainable weights
(``self.teacher`` is tracked), and ``compute_loss`` calls the teacher inside the training step, so
the distillation loss's gradient reaches the teacher, and ``fit`` moves the teacher too. scratchnet
does the same (``teacher_moved`` below says how far).

With ``--start-weights FILE`` and ``--no-shuffle`` the two implementations' losses agree epoch by
epoch, for all three ``fit`` calls (``parity_tests/test_keras_io_examples.py``). Measured figures:
``examples/keras_io/README.md``.
"""

# %%
import argparse
import sys

import numpy as np

parser = argparse.ArgumentParser(description="Keras' knowledge distillation example")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--scale", type=int, default=2, help="each 8x8 pixel becomes scale x scale")
parser.add_argument("--teacher-filters", default="64,128", help="the teacher's two Conv2D layers")
parser.add_argument("--student-filters", default="16,32", help="the student's two Conv2D layers")
parser.add_argument("--teacher-epochs", type=int, default=5)
parser.add_argument("--epochs", type=int, default=3,
                    help="of the distillation and of the student from scratch")
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--train-size", type=int, default=None, help="use only this many training digits")
parser.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                    help="batches in order every epoch (for comparing the two implementations)")
parser.add_argument("--start-weights", default=None, help=".npz of initial weights to start from")
parser.add_argument("--save-start-weights", default=None, help="write the initial weights here")
parser.add_argument("--seed", type=int, default=0, help="which initial weights")
parser.add_argument("--verbose", type=int, default=2, help="fit's verbosity: 0 silent, 2 a line per epoch")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

import scratchnet  # noqa: E402  (the digits ship with scratchnet; the model lines use K only)

layers, ops = K.layers, K.ops

# %% [markdown]
# ## Construct `Distiller()` class

# %%
class Distiller(K.Model):
    def __init__(self, student, teacher):
        super().__init__()
        self.teacher = teacher
        self.student = student

    def compile(
        self,
        optimizer,
        metrics,
        student_loss_fn,
        distillation_loss_fn,
        alpha=0.1,
        temperature=3,
    ):
        """Configure the distiller.

        Args:
            optimizer: Keras optimizer for the student weights
            metrics: Keras metrics for evaluation
            student_loss_fn: Loss function of difference between student
                predictions and ground-truth
            distillation_loss_fn: Loss function of difference between soft
                student predictions and soft teacher predictions
            alpha: weight to student_loss_fn and 1-alpha to distillation_loss_fn
            temperature: Temperature for softening probability distributions.
                Larger temperature gives softer distributions.
        """
        super().compile(optimizer=optimizer, metrics=metrics)
        self.student_loss_fn = student_loss_fn
        self.distillation_loss_fn = distillation_loss_fn
        self.alpha = alpha
        self.temperature = temperature

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, allow_empty=False
    ):
        teacher_pred = self.teacher(x, training=False)
        student_loss = self.student_loss_fn(y, y_pred)

        distillation_loss = self.distillation_loss_fn(
            ops.softmax(teacher_pred / self.temperature, axis=1),
            ops.softmax(y_pred / self.temperature, axis=1),
        ) * (self.temperature**2)

        loss = self.alpha * student_loss + (1 - self.alpha) * distillation_loss
        return loss

    def call(self, x):
        return self.student(x)


# %% [markdown]
# ## Create student and teacher models

# %%
size = 8 * args.scale
teacher_filters = [int(n) for n in args.teacher_filters.split(",")]
student_filters = [int(n) for n in args.student_filters.split(",")]
K.utils.set_random_seed(args.seed)  # the same initial weights run after run

# Create the teacher
teacher = K.Sequential(
    [
        K.Input(shape=(size, size, 1)),
        layers.Conv2D(teacher_filters[0], (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding="same"),
        layers.Conv2D(teacher_filters[1], (3, 3), strides=(2, 2), padding="same"),
        layers.Flatten(),
        layers.Dense(10),
    ],
    name="teacher",
)

# Create the student
student = K.Sequential(
    [
        K.Input(shape=(size, size, 1)),
        layers.Conv2D(student_filters[0], (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding="same"),
        layers.Conv2D(student_filters[1], (3, 3), strides=(2, 2), padding="same"),
        layers.Flatten(),
        layers.Dense(10),
    ],
    name="student",
)

# Clone student for later comparison
student_scratch = K.models.clone_model(student)

start_models = (teacher, student, student_scratch)
if args.start_weights:
    with np.load(args.start_weights) as start:
        for k, m in enumerate(start_models):
            m.set_weights([start[f"m{k}_w{i}"] for i in range(len(m.get_weights()))])
if args.save_start_weights:
    np.savez(args.save_start_weights, **{f"m{k}_w{i}": w for k, m in enumerate(start_models)
                                         for i, w in enumerate(m.get_weights())})

# %% [markdown]
# ## Prepare the dataset (scikit-learn's digits for MNIST)

# %%
# Prepare the train and test dataset.
batch_size = args.batch_size
(x_train, y_train), (x_test, y_test) = (scratchnet.datasets.load_digits(split="train"),
                                        scratchnet.datasets.load_digits(split="test"))
x_train, y_train = x_train[:args.train_size], y_train[:args.train_size]

# Normalize data (load_digits' pixels are already in [0, 1]) and make the images size x size
x_train = x_train.repeat(args.scale, axis=1).repeat(args.scale, axis=2).astype("float32")
x_train = np.reshape(x_train, (-1, size, size, 1))

x_test = x_test.repeat(args.scale, axis=1).repeat(args.scale, axis=2).astype("float32")
x_test = np.reshape(x_test, (-1, size, size, 1))

# %% [markdown]
# ## Train the teacher

# %%
# Train teacher as usual
teacher.compile(
    optimizer=K.optimizers.Adam(),
    loss=K.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=[K.metrics.SparseCategoricalAccuracy()],
)

# Train and evaluate teacher on data.
teacher_history = teacher.fit(x_train, y_train, epochs=args.teacher_epochs, batch_size=batch_size,
                              shuffle=args.shuffle, verbose=args.verbose)
teacher_score = teacher.evaluate(x_test, y_test, verbose=0)
print(f"teacher: test loss {teacher_score[0]:.4f}, accuracy {teacher_score[1]:.4f}")

# %% [markdown]
# ## Distill teacher to student

# %%
# Initialize and compile distiller
distiller = Distiller(student=student, teacher=teacher)
distiller.compile(
    optimizer=K.optimizers.Adam(),
    metrics=[K.metrics.SparseCategoricalAccuracy()],
    student_loss_fn=K.losses.SparseCategoricalCrossentropy(from_logits=True),
    distillation_loss_fn=K.losses.KLDivergence(),
    alpha=0.1,
    temperature=10,
)

# Distill teacher to student
teacher_before = [w.copy() for w in teacher.get_weights()]
history = distiller.fit(x_train, y_train, epochs=args.epochs, batch_size=batch_size,
                        shuffle=args.shuffle, verbose=args.verbose)
teacher_moved = max(float(np.max(np.abs(a - b))) for a, b in zip(teacher.get_weights(), teacher_before,
                                                                strict=True))

# Evaluate student on test dataset
distiller_score = distiller.evaluate(x_test, y_test, verbose=0)
print(f"distilled student: test loss (the distillation loss) {distiller_score[0]:.4f}, "
      f"accuracy {distiller_score[1]:.4f}; the teacher's weights moved by up to {teacher_moved:.3g}")

# %% [markdown]
# ## Train student from scratch for comparison

# %%
# Train student as doen usually
student_scratch.compile(
    optimizer=K.optimizers.Adam(),
    loss=K.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=[K.metrics.SparseCategoricalAccuracy()],
)

# Train and evaluate student trained from scratch.
scratch_history = student_scratch.fit(x_train, y_train, epochs=args.epochs, batch_size=batch_size,
                                      shuffle=args.shuffle, verbose=args.verbose)
scratch_score = student_scratch.evaluate(x_test, y_test, verbose=0)
print(f"student from scratch: test loss {scratch_score[0]:.4f}, accuracy {scratch_score[1]:.4f}")
