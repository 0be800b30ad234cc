"""OKS-NMS and soft OKS-NMS over keypoint instances (Cython loops, NumPy fallback)."""
from .suppression import oks_nms, oks_nms_numpy, oks_to_others, soft_oks_nms, soft_oks_nms_numpy

__all__ = ["oks_nms", "oks_nms_numpy", "oks_to_others", "soft_oks_nms", "soft_oks_nms_numpy"]
