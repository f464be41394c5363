"""The subclassed models and composite layers of test_subclassing_keras.py, written ONCE for
either library: ``classes(lib)`` with ``lib`` the ``keras`` module or ``scratchnet`` (a Keras
program with its import changed). keras.io's TransformerBlock and TokenAndPositionEmbedding are
as in its "Text classification with Transformer" example."""


def classes(lib):
    layers, ops = lib.layers, lib.ops

    class Residual(lib.Model):
        """Dense -> Dense added back to its input (``x + y``), then a head."""

        def __init__(self, units=6, classes=3, **kwargs):
            super().__init__(**kwargs)
            self.inner = layers.Dense(units, activation="tanh")
            self.outer = layers.Dense(units)
            self.head = layers.Dense(classes)

        def call(self, inputs):
            h = self.inner(inputs)
            h = h + self.outer(h)
            return self.head(h * 0.5)

    class WithDropout(lib.Model):
        """Dropout under ``training``, a Python ``if training:`` branch, and a list of layers."""

        def __init__(self, rate=0.5, **kwargs):
            super().__init__(**kwargs)
            self.blocks = [layers.Dense(8, activation="relu"), layers.Dense(8, activation="relu")]
            self.dropout = layers.Dropout(rate)
            self.noise_free = layers.Dropout(0.5)
            self.scale = layers.Dense(8, use_bias=False)
            self.head = layers.Dense(3, activation="softmax")

        def call(self, inputs, training=False):
            x = inputs
            for block in self.blocks:
                x = block(x)
            x = self.dropout(x, training=training)
            x = self.noise_free(x, training=False)  # never drops, even in training
            if training:
                x = x + self.scale(x)
            return self.head(x)

    class TwoInputs(lib.Model):
        """A list of two inputs, merged."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.left = layers.Dense(4, activation="relu")
            self.right = layers.Dense(4)
            self.merge = layers.Concatenate()
            self.head = layers.Dense(1)

        def call(self, inputs):
            a, b = inputs
            return self.head(self.merge([self.left(a), self.right(b)]))

    class TransformerBlock(layers.Layer):
        def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
            super().__init__()
            self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.ffn = lib.Sequential([layers.Dense(ff_dim, activation="relu"),
                                       layers.Dense(embed_dim)])
            self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
            self.dropout1 = layers.Dropout(rate)
            self.dropout2 = layers.Dropout(rate)

        def call(self, inputs):
            attn_output = self.att(inputs, inputs)
            attn_output = self.dropout1(attn_output)
            out1 = self.layernorm1(inputs + attn_output)
            ffn_output = self.ffn(out1)
            ffn_output = self.dropout2(ffn_output)
            return self.layernorm2(out1 + ffn_output)

    class TokenAndPositionEmbedding(layers.Layer):
        def __init__(self, maxlen, vocab_size, embed_dim):
            super().__init__()
            self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

        def call(self, x):
            maxlen = ops.shape(x)[-1]
            positions = ops.arange(start=0, stop=maxlen, step=1)
            positions = self.pos_emb(positions)
            x = self.token_emb(x)
            return x + positions

    def text_classifier(maxlen=6, vocab_size=20, embed_dim=8, num_heads=2, ff_dim=8, rate=0.1):
        """keras.io's functional text classifier around the two layers above."""
        inputs = layers.Input(shape=(maxlen,))
        x = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)(inputs)
        x = TransformerBlock(embed_dim, num_heads, ff_dim, rate)(x)
        x = layers.GlobalAveragePooling1D()(x)
        x = layers.Dropout(rate)(x)
        x = layers.Dense(20, activation="relu")(x)
        x = layers.Dropout(rate)(x)
        outputs = layers.Dense(2, activation="softmax")(x)
        return lib.Model(inputs=inputs, outputs=outputs)

    class Classifier(lib.Model):
        """The same text classifier as a subclassed model (composite layers inside one)."""

        def __init__(self, maxlen=6, vocab_size=20, embed_dim=8, rate=0.1, **kwargs):
            super().__init__(**kwargs)
            self.embed = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
            self.block = TransformerBlock(embed_dim, 2, 8, rate)
            self.pool = layers.GlobalAveragePooling1D()
            self.dropout = layers.Dropout(rate)
            self.out = layers.Dense(2, activation="softmax")

        def call(self, inputs, training=False):
            x = self.block(self.embed(inputs), training=training)
            return self.out(self.dropout(self.pool(x), training=training))

    class Recommender(lib.Model):
        """keras.io's RecommenderNet (collaborative filtering): ``ops.tensordot(u, m, 2)`` of two
        ``(B, E)`` batches is ONE number for the whole batch (both axes contracted), added to
        each pair's ``(B, 1)`` biases; ``reduce_batch=True`` adds ``ops.sum(u * m, axis=0)``, a
        ``(E,)`` vector for the batch, as well (a reduction over the batch axis)."""

        def __init__(self, num_users=7, num_movies=9, embedding_size=4, reduce_batch=False, **kwargs):
            super().__init__(**kwargs)
            self.reduce_batch = reduce_batch
            self.user_embedding = layers.Embedding(num_users, embedding_size,
                                                   embeddings_initializer="he_normal",
                                                   embeddings_regularizer=lib.regularizers.l2(1e-2))
            self.user_bias = layers.Embedding(num_users, 1)
            self.movie_embedding = layers.Embedding(num_movies, embedding_size,
                                                    embeddings_initializer="he_normal")
            self.movie_bias = layers.Embedding(num_movies, 1)

        def call(self, inputs):
            user_vector = self.user_embedding(inputs[:, 0])
            user_bias = self.user_bias(inputs[:, 0])
            movie_vector = self.movie_embedding(inputs[:, 1])
            movie_bias = self.movie_bias(inputs[:, 1])
            x = ops.tensordot(user_vector, movie_vector, 2) + user_bias + movie_bias
            if self.reduce_batch:
                x = x + ops.sum(ops.sum(user_vector * movie_vector, axis=0) * 0.5) * movie_bias
            return ops.nn.sigmoid(x)

    return {"Residual": Residual, "WithDropout": WithDropout, "TwoInputs": TwoInputs,
            "Recommender": Recommender,
            "TransformerBlock": TransformerBlock,
            "TokenAndPositionEmbedding": TokenAndPositionEmbedding,
            "text_classifier": text_classifier, "Classifier": Classifier}
