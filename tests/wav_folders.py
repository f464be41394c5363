"""Small WAV class folders for the audio loader's tests (tests/ and parity_tests/)."""

import wave

import numpy as np


def write_wav(path, samples: np.ndarray, rate: int = 8000, width: int = 2) -> None:
    """``samples`` (frames, channels) of integers, written as ``width``-byte PCM."""
    samples = np.asarray(samples)
    dtype = {1: "<u1", 2: "<i2", 4: "<i4"}[width]
    with wave.open(str(path), "wb") as f:
        f.setnchannels(samples.shape[1])
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(samples.astype(dtype).tobytes())


def write_commands(root, n_per_class=5, channels=1, rate=8000, seed=0):
    """Class folders "no"/ and "yes"/ of 16-bit clips of 30 to 120 frames (a nested folder, and a
    file that is not a WAV), as the speech-commands data set is laid out."""
    rng = np.random.default_rng(seed)
    for label in ("yes", "no"):
        folder = root / label
        (folder / "more").mkdir(parents=True)
        for k in range(n_per_class):
            frames = int(rng.integers(30, 120))
            clip = rng.integers(-32768, 32768, size=(frames, channels))
            target = folder / "more" if k % 3 == 0 else folder
            write_wav(target / f"{k:02d}_{label}.wav", clip, rate)
        (folder / "notes.txt").write_text("not audio")
    return root
