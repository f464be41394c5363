"""Built-in data, no downloads: scikit-learn's real handwritten digits, and loaders."""

from scratchnet.datasets.digits import load_digits
from scratchnet.datasets.structured import load_structured, structured_tokens

__all__ = ["load_digits", "load_structured", "structured_tokens"]
