"""Synthetic DeepFashion2-format data: templates, rendering, raw-layout writer."""
from .generate import make_image, make_synthetic, write_split
from .render import Garment, local_flip_index, render_garment
from .templates import outline, template

__all__ = ["Garment", "local_flip_index", "make_image", "make_synthetic", "outline",
           "render_garment", "template", "write_split"]
