"""dlcli: a command-line experiment runner for learning how neural networks are trained."""

__version__ = "0.1.0"
