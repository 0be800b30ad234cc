"""clothpose: clothes-landmark detection toolkit (DeepFashion2, FashionAI)."""
__version__ = "0.1.0"
