"""engine: a deep-learning library with PyTorch's programming model on NumPy and CuPy."""

__version__ = "0.1.0"
