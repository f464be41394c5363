"""Built-in data, no downloads: scikit-learn's real handwritten digits, and loaders."""

from scratchnet.datasets.digits import load_digits

__all__ = ["load_digits"]
