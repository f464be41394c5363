"""Built-in data, no downloads: procedural rock-paper-scissors hands, scikit-learn's real
handwritten digits, a structured users-and-items table, generated movie reviews, and loaders
for real data already on disk.

Keras' own ``keras.datasets`` modules too (:mod:`mnist`, :mod:`fashion_mnist`, :mod:`cifar10`,
:mod:`cifar100`, :mod:`imdb`, :mod:`reuters`, :mod:`boston_housing`, :mod:`california_housing`),
whose ``load_data()`` reads the files Keras has cached in ``$KERAS_HOME/datasets/`` and returns
what Keras returns; scratchnet never downloads them (:mod:`keras_cache`)."""

from scratchnet.datasets import (
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    imdb,
    mnist,
    reuters,
)
from scratchnet.datasets.digits import load_digits
from scratchnet.datasets.loaders import load_idx, load_rps_directory
from scratchnet.datasets.reviews import load_reviews
from scratchnet.datasets.rps import CLASS_NAMES as RPS_CLASS_NAMES
from scratchnet.datasets.rps import load_rps
from scratchnet.datasets.rps_directory import save_rps_directory
from scratchnet.datasets.structured import load_structured, structured_tokens

__all__ = ["load_digits", "load_rps", "load_rps_directory", "load_idx", "RPS_CLASS_NAMES",
           "load_structured", "structured_tokens", "save_rps_directory", "load_reviews",
           "mnist", "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters", "boston_housing",
           "california_housing"]
