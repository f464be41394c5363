"""Keras' example "Collaborative Filtering for Movie Recommendations", in scratchnet.

    python examples/keras_io/collaborative_filtering_movielens.py               # scratchnet (default)
    python examples/keras_io/collaborative_filtering_movielens.py --impl keras  # the same lines in Keras 3

Keras' example reads MovieLens' small ratings table (a download: 100,836 ratings of 9,742 movies
by 610 users, 0.5 to 5 stars in half stars); this one makes a table of the same kind with NumPy:
each user and each movie has a few hidden tastes, a user's rating of a movie is their agreement
plus the user's and the movie's own leanings and some noise, rounded to half stars, and each user
rates a random few of the movies. User and movie ids are scattered numbers, as MovieLens' are, and
a movie table gives each a title and genres.

Then the example's lines: ids encoded in order of first appearance (pandas' ``unique``), ratings
scaled to [0, 1], the rows shuffled and split 90/10, and the subclassed ``keras.Model``
``RecommenderNet``: four ``Embedding`` layers (user and movie vectors, ``he_normal`` with an
``l2(1e-6)`` penalty, and a bias each), ``ops.tensordot(user_vector, movie_vector, 2)``, the biases
added, ``ops.nn.sigmoid``; ``BinaryCrossentropy`` and ``Adam(learning_rate=0.001)``; then the ten
unwatched movies with the highest predicted ratings for one user.

``ops.tensordot(user_vector, movie_vector, 2)`` contracts both axes of the two ``(batch, 50)``
batches: it is one number for the whole batch (the sum of every pair's dot product), added to
each pair's biases, so that each prediction depends on the rest of its batch. That is the
example's line and Keras' arithmetic (``tf.tensordot`` with ``axes=2``), and scratchnet computes
the same; the biases still learn each user's and movie's leaning. ``ops.sum(user_vector *
movie_vector, axis=1, keepdims=True)`` would be the per-pair dot product.

Where the example keeps the table in pandas, this one keeps NumPy arrays and dicts with the same
rows. Its sizes are smaller by default (Keras': 50-wide embeddings over the 100,836 ratings);
the flags set them back. With ``--start-weights FILE``, ``--no-shuffle`` and ``--optimizer sgd``
the two implementations' losses agree epoch by epoch (``parity_tests/test_keras_io_examples.py``).
Measured figures: ``examples/keras_io/README.md``.
"""

# %%
import argparse
import sys

import numpy as np

parser = argparse.ArgumentParser(description="Keras' collaborative filtering for movie recommendations")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--users", type=int, default=300, help="Keras' table: 610")
parser.add_argument("--movies", type=int, default=500, help="Keras' table: 9,742")
parser.add_argument("--ratings-per-user", type=int, default=60, help="on average")
parser.add_argument("--embedding-size", type=int, default=50, help="Keras': 50")
parser.add_argument("--epochs", type=int, default=5, help="Keras': 5")
parser.add_argument("--batch-size", type=int, default=64, help="Keras': 64")
parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam",
                    help="sgd (at 0.5) for comparing the two implementations: Keras' Adam squares a "
                         "repeated id's gradient slices apart (docs/parity-notes.md)")
parser.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                    help="batches in order every epoch (for comparing the two implementations)")
parser.add_argument("--start-weights", default=None, help=".npz of initial weights to start from")
parser.add_argument("--save-start-weights", default=None, help="write the initial weights here")
parser.add_argument("--seed", type=int, default=0, help="which ratings")
parser.add_argument("--verbose", type=int, default=1, help="fit's verbosity: 0 silent, 1 progress bar")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

layers, ops = K.layers, K.ops

# %% [markdown]
# ## The ratings: hidden tastes, half stars, scattered ids (MovieLens' ratings.csv and movies.csv)

# %%
rng = np.random.default_rng(args.seed)
genre_names = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller", "Animation"]
tastes = 3
user_taste = rng.normal(size=(args.users, tastes))
movie_taste = rng.normal(size=(args.movies, tastes))
user_lean = rng.normal(0, 0.7, args.users)
movie_lean = rng.normal(0, 0.8, args.movies)
user_id_of = np.sort(rng.choice(10 * args.users, args.users, replace=False)) + 1
movie_id_of = np.sort(rng.choice(20 * args.movies, args.movies, replace=False)) + 1
movie_genres = {int(movie_id_of[m]): "|".join(sorted(set(rng.choice(genre_names, 2))))
                for m in range(args.movies)}
movie_title = {int(movie_id_of[m]): f"Movie {m + 1} ({1950 + int(rng.integers(70))})"
               for m in range(args.movies)}

rows = []
for u in range(args.users):
    count = max(5, int(rng.poisson(args.ratings_per_user)))
    for m in sorted(rng.choice(args.movies, min(count, args.movies), replace=False)):
        stars = 3.2 + 0.4 * user_taste[u] @ movie_taste[m] + user_lean[u] + movie_lean[m]
        stars = np.clip(np.round(2 * (stars + rng.normal(0, 0.3))) / 2, 0.5, 5.0)  # half stars
        rows.append((int(user_id_of[u]), int(movie_id_of[m]), float(stars)))
ratings_table = {"userId": np.array([r[0] for r in rows]), "movieId": np.array([r[1] for r in rows]),
                 "rating": np.array([r[2] for r in rows])}
print(f"{len(rows)} ratings of {args.movies} movies by {args.users} users")

# %% [markdown]
# ## First, the data preprocessing to encode users and movies as integer indices

# %%
user_ids = list(dict.fromkeys(ratings_table["userId"].tolist()))  # df["userId"].unique().tolist()
user2user_encoded = {x: i for i, x in enumerate(user_ids)}
userencoded2user = {i: x for i, x in enumerate(user_ids)}
movie_ids = list(dict.fromkeys(ratings_table["movieId"].tolist()))
movie2movie_encoded = {x: i for i, x in enumerate(movie_ids)}
movie_encoded2movie = {i: x for i, x in enumerate(movie_ids)}
user = np.array([user2user_encoded[x] for x in ratings_table["userId"]])
movie = np.array([movie2movie_encoded[x] for x in ratings_table["movieId"]])

num_users = len(user2user_encoded)
num_movies = len(movie_encoded2movie)
rating = ratings_table["rating"].astype(np.float32)
# min and max ratings will be used to normalize the ratings later
min_rating = min(rating)
max_rating = max(rating)

print(f"Number of users: {num_users}, Number of Movies: {num_movies}, Min rating: {min_rating}, "
      f"Max rating: {max_rating}")

# %% [markdown]
# ## Prepare training and validation data

# %%
order = np.random.RandomState(42).permutation(len(rating))  # df.sample(frac=1, random_state=42)
user, movie, rating = user[order], movie[order], rating[order]
x = np.stack([user, movie], axis=1)
# Normalize the targets between 0 and 1. Makes it easy to train.
y = (rating - min_rating) / (max_rating - min_rating)
# Assuming training on 90% of the data and validating on 10%.
train_indices = int(0.9 * len(x))
x_train, x_val, y_train, y_val = (
    x[:train_indices],
    x[train_indices:],
    y[:train_indices],
    y[train_indices:],
)

# %% [markdown]
# ## Create the model
#
# We embed both users and movies in to 50-dimensional vectors. The model computes a match score
# between user and movie embeddings via a dot product, and adds a per-movie and per-user bias.
# The match score is scaled to the [0, 1] interval via a sigmoid (since our ratings are
# normalized to this range).

# %%
EMBEDDING_SIZE = args.embedding_size


class RecommenderNet(K.Model):
    def __init__(self, num_users, num_movies, embedding_size, **kwargs):
        super().__init__(**kwargs)
        self.num_users = num_users
        self.num_movies = num_movies
        self.embedding_size = embedding_size
        self.user_embedding = layers.Embedding(
            num_users,
            embedding_size,
            embeddings_initializer="he_normal",
            embeddings_regularizer=K.regularizers.l2(1e-6),
        )
        self.user_bias = layers.Embedding(num_users, 1)
        self.movie_embedding = layers.Embedding(
            num_movies,
            embedding_size,
            embeddings_initializer="he_normal",
            embeddings_regularizer=K.regularizers.l2(1e-6),
        )
        self.movie_bias = layers.Embedding(num_movies, 1)

    def call(self, inputs):
        user_vector = self.user_embedding(inputs[:, 0])
        user_bias = self.user_bias(inputs[:, 0])
        movie_vector = self.movie_embedding(inputs[:, 1])
        movie_bias = self.movie_bias(inputs[:, 1])
        dot_user_movie = ops.tensordot(user_vector, movie_vector, 2)
        # Add all the components (including bias)
        x = dot_user_movie + user_bias + movie_bias
        # The sigmoid activation forces the rating to between 0 and 1
        return ops.nn.sigmoid(x)


model = RecommenderNet(num_users, num_movies, EMBEDDING_SIZE)
model.compile(
    loss=K.losses.BinaryCrossentropy(),
    optimizer=K.optimizers.Adam(learning_rate=0.001) if args.optimizer == "adam" else K.optimizers.SGD(0.5),
)
if args.start_weights or args.save_start_weights:
    model(x_train[:1])  # the weights exist once the model has run (the example's fit makes them)
if args.start_weights:
    with np.load(args.start_weights) as start:
        model.set_weights([start[f"w{i}"] for i in range(len(start.files))])
if args.save_start_weights:
    np.savez(args.save_start_weights, **{f"w{i}": w for i, w in enumerate(model.get_weights())})

# %% [markdown]
# ## Train the model based on the data split

# %%
history = model.fit(
    x=x_train,
    y=y_train,
    batch_size=args.batch_size,
    epochs=args.epochs,
    verbose=args.verbose,
    validation_data=(x_val, y_val),
    shuffle=args.shuffle,
)
# what a model that knows nothing scores: the training ratings' mean for every pair
p = float(np.mean(y_train))
constant_loss = float(np.mean(-(y_val * np.log(p) + (1 - y_val) * np.log(1 - p))))
print(f"val_loss {history.history['val_loss'][-1]:.4f} after {args.epochs} epochs; "
      f"the training mean for every pair: {constant_loss:.4f}")

# %% [markdown]
# ## Show top 10 movie recommendations to a user

# %%
# df.userId.sample(1).iloc[0]
user_id = int(ratings_table["userId"][np.random.RandomState(args.seed).randint(len(rows))])
watched = ratings_table["userId"] == user_id
movies_watched_by_user = {"movieId": ratings_table["movieId"][watched],
                          "rating": ratings_table["rating"][watched]}
movies_not_watched = [m for m in movie_title if m not in set(movies_watched_by_user["movieId"].tolist())]
movies_not_watched = list(set(movies_not_watched).intersection(set(movie2movie_encoded.keys())))
movies_not_watched = sorted(movies_not_watched)  # (a set's order: sorted, so both runs ask the same)
movies_not_watched = [[movie2movie_encoded.get(x)] for x in movies_not_watched]
user_encoder = user2user_encoded.get(user_id)
user_movie_array = np.hstack(([[user_encoder]] * len(movies_not_watched), movies_not_watched))
ratings = model.predict(user_movie_array, verbose=0).flatten()
top_ratings_indices = ratings.argsort()[-10:][::-1]
recommended_movie_ids = [movie_encoded2movie.get(movies_not_watched[x][0]) for x in top_ratings_indices]

print(f"Showing recommendations for user: {user_id}")
print("====" * 9)
print("Movies with high ratings from user")
print("----" * 8)
by_rating = np.argsort(-movies_watched_by_user["rating"], kind="stable")  # .sort_values("rating")
top_movies_user = movies_watched_by_user["movieId"][by_rating[:5]]
for movie_id in top_movies_user:
    print(f"{movie_title[int(movie_id)]} : {movie_genres[int(movie_id)]}")
print("----" * 8)
print("Top 10 movie recommendations")
print("----" * 8)
for movie_id in recommended_movie_ids:
    print(f"{movie_title[movie_id]} : {movie_genres[movie_id]}")
