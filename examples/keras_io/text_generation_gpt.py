"""Keras' example "Text generation with a miniature GPT", in scratchnet.

    python examples/keras_io/text_generation_gpt.py               # scratchnet (default)
    python examples/keras_io/text_generation_gpt.py --impl keras  # the same lines in Keras 3

Keras' example trains a one-block causal Transformer on IMDB's reviews (a download) to predict
each next word, and a callback writes text after every epoch; this one reads the short movie
reviews that ship with scratchnet (``scratchnet.datasets.load_reviews``: generated, one opinion
and one side remark each: "the plot was not very clever, although i had read the book"). Then
the example's lines: ``TextVectorization(max_tokens=vocab_size - 1, output_mode="int",
output_sequence_length=maxlen + 1)`` adapted to the texts, each review cut into inputs
``tokens[:, :-1]`` and next-word targets ``tokens[:, 1:]``; the ``TokenAndPositionEmbedding``
and ``TransformerBlock`` layers (``layers.Layer`` subclasses made of layers); a functional model
with two outputs, the logits and the block's output, compiled with
``loss=[SparseCategoricalCrossentropy(from_logits=True), None]`` (no loss on the second); and the
``TextGenerator`` callback, whose ``on_epoch_end`` extends a prompt one word per ``model.predict``
by sampling among the ``ops.top_k`` most likely words.

Three lines differ, each for the backend-agnostic Keras idiom of what the example does with
TensorFlow: the causal mask is ``MultiHeadAttention(..., use_causal_mask=True)`` (the same lower
triangle that the example's ``causal_attention_mask`` builds with ``ops.tile`` over a dynamic
batch size); the texts are a NumPy array given to ``adapt`` and to ``fit`` (for its
``tf.data.TextLineDataset`` pipeline), the vectorized batches read with ``ops.convert_to_numpy``;
and the layer's default standardization (lower case, punctuation stripped) stands for the
example's ``tf.strings`` one (which keeps punctuation as tokens).

Its sizes are smaller by default (Keras': 80 words of 20,000, 256-wide embeddings, 25 epochs of
IMDB's 50,000 reviews); the flags set them back. With ``--start-weights FILE``, ``--no-shuffle``,
``--dropout 0`` and ``--optimizer sgd`` the two implementations' losses agree epoch by epoch
(``parity_tests/test_keras_io_examples.py``). Measured figures: ``examples/keras_io/README.md``.
"""

# %%
import argparse
import sys

import numpy as np

parser = argparse.ArgumentParser(description="Keras' miniature GPT")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--texts", type=int, default=4000, help="reviews to learn from (at most 4000)")
parser.add_argument("--vocab-size", type=int, default=64,
                    help="Keras': 20000 (the reviews have 86 words; the rarer ones become [UNK])")
parser.add_argument("--maxlen", type=int, default=24, help="words per sample (Keras': 80)")
parser.add_argument("--embed-dim", type=int, default=32, help="Keras': 256")
parser.add_argument("--ff-dim", type=int, default=32, help="Keras': 256")
parser.add_argument("--dropout", type=float, default=0.1, help="Keras': 0.1")
parser.add_argument("--epochs", type=int, default=5, help="Keras': 25")
parser.add_argument("--batch-size", type=int, default=128, help="Keras': 128")
parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam",
                    help="sgd for comparing the two implementations: Keras' Adam squares a "
                         "repeated word's gradient slices apart (docs/parity-notes.md)")
parser.add_argument("--generate", type=int, default=12, help="words the callback writes (Keras': 40)")
parser.add_argument("--prompt", default="the movie is",
                    help="Keras': 'this movie is' ('this' is rare here: [UNK] in a small vocabulary)")
parser.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                    help="batches in order every epoch (for comparing the two implementations)")
parser.add_argument("--start-weights", default=None, help=".npz of initial weights to start from")
parser.add_argument("--save-start-weights", default=None, help="write the initial weights here")
parser.add_argument("--seed", type=int, default=0, help="the callback's sampling")
parser.add_argument("--verbose", type=int, default=2, help="fit's verbosity (Keras': 2)")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

import scratchnet  # noqa: E402  (the reviews ship with scratchnet; the model lines use K only)

layers, ops = K.layers, K.ops
TextVectorization = K.layers.TextVectorization

# %% [markdown]
# ## Implement a Transformer block as a layer


# %%
class TransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
        super().__init__()
        self.att = layers.MultiHeadAttention(num_heads, embed_dim)
        self.ffn = K.Sequential(
            [
                layers.Dense(ff_dim, activation="relu"),
                layers.Dense(embed_dim),
            ]
        )
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs):
        attention_output = self.att(inputs, inputs, use_causal_mask=True)
        attention_output = self.dropout1(attention_output)
        out1 = self.layernorm1(inputs + attention_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output)
        return self.layernorm2(out1 + ffn_output)


# %% [markdown]
# ## Implement an embedding layer: one for the tokens, one for their positions


# %%
class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim):
        super().__init__()
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = ops.shape(x)[-1]
        positions = ops.arange(0, maxlen, 1)
        positions = self.pos_emb(positions)
        x = self.token_emb(x)
        return x + positions


# %% [markdown]
# ## Implement the miniature GPT model

# %%
vocab_size = args.vocab_size  # Only consider the top vocab_size words
maxlen = args.maxlen  # Max sequence size
embed_dim = args.embed_dim  # Embedding size for each token
num_heads = 2  # Number of attention heads
feed_forward_dim = args.ff_dim  # Hidden layer size in feed forward network inside transformer


def create_model():
    inputs = layers.Input(shape=(maxlen,), dtype="int32")
    embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
    x = embedding_layer(inputs)
    transformer_block = TransformerBlock(embed_dim, num_heads, feed_forward_dim, args.dropout)
    x = transformer_block(x)
    outputs = layers.Dense(vocab_size)(x)
    model = K.Model(inputs=inputs, outputs=[outputs, x])
    loss_fn = K.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(
        "adam" if args.optimizer == "adam" else K.optimizers.SGD(0.5),
        loss=[loss_fn, None],
    )  # No loss and optimization based on word embeddings from transformer block
    return model


# %% [markdown]
# ## Prepare the data for word-level language modelling

# %%
batch_size = args.batch_size
texts, _ = scratchnet.datasets.load_reviews("train", num_samples=args.texts)

# Create a vectorization layer and adapt it to the text
vectorize_layer = TextVectorization(
    max_tokens=vocab_size - 1,
    output_mode="int",
    output_sequence_length=maxlen + 1,
)
vectorize_layer.adapt(texts)
vocab = vectorize_layer.get_vocabulary()  # To get words back from token indices


def prepare_lm_inputs_labels(text):
    """
    Shift word sequences by 1 position so that the target for position (i) is
    word at position (i+1). The model will use all words up till position (i)
    to predict the next word.
    """
    text = np.expand_dims(text, -1)
    tokenized_sentences = ops.convert_to_numpy(vectorize_layer(text))
    x = tokenized_sentences[:, :-1]
    y = tokenized_sentences[:, 1:]
    return x, y


x_train, y_train = prepare_lm_inputs_labels(texts)
print(f"{len(texts)} reviews, {len(vocab)} words; inputs {x_train.shape}, targets {y_train.shape}")

# %% [markdown]
# ## Implement a Keras callback for generating text


# %%
class TextGenerator(K.callbacks.Callback):
    """A callback to generate text from a trained model.
    1. Feed some starting prompt to the model
    2. Predict probabilities for the next token
    3. Sample the next token and add it to the next input

    Arguments:
        max_tokens: Integer, the number of tokens to be generated after prompt.
        start_tokens: List of integers, the token indices for the starting prompt.
        index_to_word: List of strings, obtained from the TextVectorization layer.
        top_k: Integer, sample from the `top_k` token predictions.
        print_every: Integer, print after this many epochs.
    """

    def __init__(self, max_tokens, start_tokens, index_to_word, top_k=10, print_every=1):
        self.max_tokens = max_tokens
        self.start_tokens = start_tokens
        self.index_to_word = index_to_word
        self.print_every = print_every
        self.k = top_k
        self.texts = []  # (not in the example) what each epoch wrote, for the tests

    def sample_from(self, logits):
        logits, indices = ops.top_k(logits, k=self.k, sorted=True)
        indices = np.asarray(indices).astype("int32")
        preds = K.activations.softmax(ops.expand_dims(logits, 0))[0]
        preds = np.asarray(preds).astype("float32")
        return np.random.choice(indices, p=preds)

    def detokenize(self, number):
        return self.index_to_word[number]

    def on_epoch_end(self, epoch, logs=None):
        start_tokens = [_ for _ in self.start_tokens]
        if (epoch + 1) % self.print_every != 0:
            return
        num_tokens_generated = 0
        tokens_generated = []
        while num_tokens_generated <= self.max_tokens:
            pad_len = maxlen - len(start_tokens)
            sample_index = len(start_tokens) - 1
            if pad_len < 0:
                x = start_tokens[:maxlen]
                sample_index = maxlen - 1
            elif pad_len > 0:
                x = start_tokens + [0] * pad_len
            else:
                x = start_tokens
            x = np.array([x])
            y, _ = self.model.predict(x, verbose=0)
            sample_token = self.sample_from(y[0][sample_index])
            tokens_generated.append(sample_token)
            start_tokens.append(sample_token)
            num_tokens_generated = len(tokens_generated)
        txt = " ".join([self.detokenize(_) for _ in self.start_tokens + tokens_generated])
        self.texts.append(txt)
        print(f"generated text:\n{txt}\n")


# Tokenize starting prompt
word_to_index = {}
for index, word in enumerate(vocab):
    word_to_index[word] = index

start_prompt = args.prompt
start_tokens = [word_to_index.get(_, 1) for _ in start_prompt.split()]
num_tokens_generated = args.generate
text_gen_callback = TextGenerator(num_tokens_generated, start_tokens, vocab)

# %% [markdown]
# ## Train the model

# %%
np.random.seed(args.seed)  # the callback's sampling draws from NumPy's global generator
model = create_model()
if args.start_weights:
    with np.load(args.start_weights) as start:
        model.set_weights([start[f"w{i}"] for i in range(len(start.files))])
if args.save_start_weights:
    np.savez(args.save_start_weights, **{f"w{i}": w for i, w in enumerate(model.get_weights())})

history = model.fit(x_train, y_train, batch_size=batch_size, verbose=args.verbose, epochs=args.epochs,
                    callbacks=[text_gen_callback], shuffle=args.shuffle)
