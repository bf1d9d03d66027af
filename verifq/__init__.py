"""verifq: sound fixed-point quantization of feed-forward neural networks."""

__version__ = "0.1.0"
