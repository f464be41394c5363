"""Keras' example "Character-level recurrent sequence-to-sequence model" (lstm_seq2seq), in scratchnet.

    python examples/keras_io/char_seq2seq.py               # scratchnet (default)
    python examples/keras_io/char_seq2seq.py --impl keras  # the same lines in Keras 3

Keras' example translates short English sentences into French, character by character, from a
corpus it downloads. Nothing is downloaded here: the parallel corpus is generated, phrases of one
to three made-up words (syllables drawn at random) and their Pig Latin (a word that starts with a
vowel gets "way" added, any other moves its first consonants to the end and adds "ay":
``"tobe kim" -> "obetay imkay"``). The rule is deterministic, so a model can learn it exactly; as
in a real translation each output character depends on characters far away in the input.

The model is Keras' example line for line: an encoder LSTM reads the one-hot input sentence and
returns its states (``return_state=True``); a decoder LSTM starts from those states
(``initial_state``) and, given the target sentence shifted by one step ("teacher forcing"), learns
the next character. Both inputs are ``Input((None, num_tokens))``: sentences of any length. For
inference the trained layers are rewired into an encoder model and a decoder model that takes its
states as inputs and returns the new ones, and a greedy loop decodes one character at a time,
feeding each step's states and character back in (a batch of length 1 at every step).

With ``--start-weights FILE`` both implementations start from the same weights (a ``.npz`` of
``get_weights()``, written with ``--save-start-weights FILE``), and with ``--no-shuffle`` they
see the batches in the same order: then their losses agree epoch by epoch
(``parity_tests/test_keras_io_examples.py``). Measured results: ``examples/keras_io/README.md``.
"""

# %%
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

parser = argparse.ArgumentParser(description="Keras' character-level seq2seq example")
parser.add_argument("--impl", choices=["scratch", "keras"], default="scratch",
                    help="scratch: scratchnet (NumPy); keras: Keras 3 (TensorFlow)")
parser.add_argument("--epochs", type=int, default=30, help="Keras': 100")
parser.add_argument("--samples", type=int, default=2000, help="phrase pairs (Keras': 10,000 sentences)")
parser.add_argument("--latent-dim", type=int, default=64, help="units of each LSTM (Keras': 256)")
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                    help="batches in order every epoch (for comparing the two implementations)")
parser.add_argument("--start-weights", default=None, help=".npz of initial weights to start from")
parser.add_argument("--save-start-weights", default=None, help="write the initial weights here")
parser.add_argument("--decode", type=int, default=20, help="validation phrases to translate at the end")
parser.add_argument("--seed", type=int, default=0, help="which phrases")
parser.add_argument("--verbose", type=int, default=1, help="fit's verbosity: 0 silent, 1 progress bar")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook has its own argv

if args.impl == "keras":
    import keras as K
else:
    import scratchnet as K

# %% [markdown]
# ## The parallel corpus: made-up phrases and their Pig Latin

# %%
VOWELS = "aeiou"
ONSETS = ["", "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "st", "tr", "pl", "ch"]


def pig_latin(word: str) -> str:
    if word[0] in VOWELS:
        return word + "way"
    first_vowel = next(i for i, ch in enumerate(word) if ch in VOWELS)
    return word[first_vowel:] + word[:first_vowel] + "ay"


rng = np.random.default_rng(args.seed)
pairs, seen = [], set()
while len(pairs) < args.samples:
    words = ["".join(rng.choice(ONSETS) + rng.choice(list(VOWELS)) for _ in range(rng.integers(1, 3)))
             + rng.choice(["", "", "n", "m", "s"]) for _ in range(rng.integers(1, 4))]
    phrase = " ".join(words)
    if phrase in seen:
        continue
    seen.add(phrase)
    pairs.append((phrase, " ".join(pig_latin(w) for w in words)))
print(f"{len(pairs)} phrase pairs, e.g. {pairs[0][0]!r} -> {pairs[0][1]!r}")

# %% [markdown]
# ## One-hot encoding (Keras' example, line for line)

# %%
input_texts = [source for source, _ in pairs]
target_texts = ["\t" + target + "\n" for _, target in pairs]  # "\t" starts, "\n" ends a sentence
input_characters = sorted(set("".join(input_texts)) | {" "})
target_characters = sorted(set("".join(target_texts)) | {" "})
num_encoder_tokens = len(input_characters)
num_decoder_tokens = len(target_characters)
max_encoder_seq_length = max(len(txt) for txt in input_texts)
max_decoder_seq_length = max(len(txt) for txt in target_texts)
input_token_index = {char: i for i, char in enumerate(input_characters)}
target_token_index = {char: i for i, char in enumerate(target_characters)}
reverse_target_char_index = {i: char for char, i in target_token_index.items()}

n = len(input_texts)
encoder_input_data = np.zeros((n, max_encoder_seq_length, num_encoder_tokens), dtype="float32")
decoder_input_data = np.zeros((n, max_decoder_seq_length, num_decoder_tokens), dtype="float32")
decoder_target_data = np.zeros((n, max_decoder_seq_length, num_decoder_tokens), dtype="float32")
for i, (input_text, target_text) in enumerate(zip(input_texts, target_texts, strict=True)):
    for t, char in enumerate(input_text):
        encoder_input_data[i, t, input_token_index[char]] = 1.0
    encoder_input_data[i, t + 1:, input_token_index[" "]] = 1.0
    for t, char in enumerate(target_text):
        decoder_input_data[i, t, target_token_index[char]] = 1.0
        if t > 0:  # the target is the decoder's input one step ahead
            decoder_target_data[i, t - 1, target_token_index[char]] = 1.0
    decoder_input_data[i, t + 1:, target_token_index[" "]] = 1.0
    decoder_target_data[i, t:, target_token_index[" "]] = 1.0
print(f"{num_encoder_tokens} input and {num_decoder_tokens} output characters; phrases up to "
      f"{max_encoder_seq_length} characters in, {max_decoder_seq_length} out")

# %% [markdown]
# ## The training model: encoder states start the decoder

# %%
encoder_inputs = K.Input(shape=(None, num_encoder_tokens))
encoder = K.layers.LSTM(args.latent_dim, return_state=True)
encoder_outputs, state_h, state_c = encoder(encoder_inputs)
encoder_states = [state_h, state_c]  # the encoder's outputs are discarded; its states are kept

decoder_inputs = K.Input(shape=(None, num_decoder_tokens))
decoder_lstm = K.layers.LSTM(args.latent_dim, return_sequences=True, return_state=True)
decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
decoder_dense = K.layers.Dense(num_decoder_tokens, activation="softmax")
decoder_outputs = decoder_dense(decoder_outputs)

model = K.Model([encoder_inputs, decoder_inputs], decoder_outputs)
model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
if args.start_weights:
    with np.load(args.start_weights) as start:
        model.set_weights([start[f"w{i}"] for i in range(len(start.files))])
if args.save_start_weights:
    np.savez(args.save_start_weights, **{f"w{i}": w for i, w in enumerate(model.get_weights())})
model.summary()

# %% [markdown]
# ## Training, then the saved model

# %%
history = model.fit([encoder_input_data, decoder_input_data], decoder_target_data,
                    batch_size=args.batch_size, epochs=args.epochs, validation_split=0.2,
                    shuffle=args.shuffle, verbose=args.verbose)
print(f"validation accuracy per character after {args.epochs} epochs: "
      f"{history.history['val_accuracy'][-1]:.4f}")
saved = Path(tempfile.mkdtemp()) / "s2s_model.keras"
model.save(saved)

# %% [markdown]
# ## Inference: an encoder model, a one-step decoder model, a greedy loop

# %%
model = K.models.load_model(saved)
encoder_inputs = model.input[0]  # input_layer
encoder_outputs, state_h_enc, state_c_enc = model.layers[2].output  # lstm
encoder_states = [state_h_enc, state_c_enc]
encoder_model = K.Model(encoder_inputs, encoder_states)

decoder_inputs = model.input[1]  # input_layer_1
decoder_state_input_h = K.Input(shape=(args.latent_dim,))
decoder_state_input_c = K.Input(shape=(args.latent_dim,))
decoder_states_inputs = [decoder_state_input_h, decoder_state_input_c]
decoder_lstm = model.layers[3]
decoder_outputs, state_h_dec, state_c_dec = decoder_lstm(decoder_inputs, initial_state=decoder_states_inputs)
decoder_states = [state_h_dec, state_c_dec]
decoder_dense = model.layers[4]
decoder_outputs = decoder_dense(decoder_outputs)
decoder_model = K.Model([decoder_inputs] + decoder_states_inputs, [decoder_outputs] + decoder_states)


def decode_sequence(input_seq):
    states_value = encoder_model.predict(input_seq, verbose=0)  # [h, c]
    target_seq = np.zeros((1, 1, num_decoder_tokens))  # one step: the start character
    target_seq[0, 0, target_token_index["\t"]] = 1.0
    decoded_sentence = ""
    while True:
        output_tokens, h, c = decoder_model.predict([target_seq] + states_value, verbose=0)
        sampled_token_index = int(np.argmax(output_tokens[0, -1, :]))
        sampled_char = reverse_target_char_index[sampled_token_index]
        if sampled_char == "\n" or len(decoded_sentence) > max_decoder_seq_length:
            return decoded_sentence
        decoded_sentence += sampled_char
        target_seq = np.zeros((1, 1, num_decoder_tokens))  # the character just chosen is the next input
        target_seq[0, 0, sampled_token_index] = 1.0
        states_value = [h, c]


first_val = len(pairs) - int(len(pairs) * 0.2)  # validation_split takes the last fifth
translated = [(input_texts[i], decode_sequence(encoder_input_data[i:i + 1]), target_texts[i][1:-1])
              for i in range(first_val, min(first_val + args.decode, len(pairs)))]
for source, decoded, expected in translated[:10]:
    print(f"{'ok' if decoded == expected else '  '} {source!r} -> {decoded!r} (true {expected!r})")
exact = float(np.mean([decoded == expected for _, decoded, expected in translated])) if translated else 0.0
print(f"validation phrases translated exactly (greedy decoding): {exact:.0%} of {len(translated)}")
