"""automl: hyperparameter search and AutoML for PyTorch models."""

__version__ = "0.1.0"
