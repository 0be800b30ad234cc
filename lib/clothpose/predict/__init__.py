"""Inference on arbitrary images: predictor (PyTorch or ONNX), box inputs, outputs, export."""
from .predictor import BOX_PADDING, Instance, Predictor

__all__ = ["BOX_PADDING", "Instance", "Predictor"]
