"""``clothpose.predictor.Predictor``: landmarks for your own images (see ``clothpose.predict``)."""
from .predict.predictor import BOX_PADDING, Instance, Predictor

__all__ = ["BOX_PADDING", "Instance", "Predictor"]
