"""Network backends for the predictor: a PyTorch module or an onnxruntime session.

Both take the same normalised NCHW float32 batch (numpy; the PyTorch backend also takes a tensor
already on its device) and return heatmaps (N, K, h, w) as numpy, with
the flip test done the same way (mirror the input, ``flip_back``, optional one-pixel shift,
average), so the two backends decode to the same landmarks.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from yacs.config import CfgNode

from ..utils.transforms import flip_back

logger = logging.getLogger(__name__)


class Backend(Protocol):
    """What the predictor needs from a network."""

    name: str

    def heatmaps(self, inputs: np.ndarray, flip_index: np.ndarray | None,
                 shift_heatmap: bool) -> np.ndarray: ...


def average_with_flipped(heat: np.ndarray, heat_flipped: np.ndarray, flip_index: np.ndarray,
                         shift_heatmap: bool) -> np.ndarray:
    """HRNet's flip test: mirror the flipped output back, shift one pixel right, average."""
    back = flip_back(heat_flipped, flip_index)
    if shift_heatmap:
        back[..., 1:] = back[..., :-1].copy()
    return (heat + back) * 0.5


class TorchBackend:
    """A model built from the config; weights from ``weights`` (plain or wrapped state_dict)."""

    name = "pytorch"

    def __init__(self, cfg: CfgNode, weights: str | Path | None, device: str = "cpu",
                 channels_last: bool | None = None):
        from ..core.checkpoint import load_model_weights
        from ..models import build_model

        self.device = torch.device(device)
        self.model = build_model(cfg, is_train=False)
        if weights:
            load_model_weights(self.model, weights)
        else:
            logger.warning("no weights given: the %s model keeps its random initialisation",
                           cfg.MODEL.NAME)
        self.model = self.model.to(self.device).eval()
        self.channels_last = bool(cfg.TRAIN.CHANNELS_LAST if channels_last is None
                                  else channels_last)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.amp = bool(cfg.TRAIN.AMP) and self.device.type == "cuda"

    def heatmaps(self, inputs: np.ndarray | torch.Tensor, flip_index: np.ndarray | None,
                 shift_heatmap: bool) -> np.ndarray:
        from ..core.function import predict_heatmaps

        x = inputs if isinstance(inputs, torch.Tensor) else torch.from_numpy(inputs)
        return predict_heatmaps(self.model, x, flip_index=flip_index,
                                shift_heatmap=shift_heatmap, amp=self.amp,
                                channels_last=self.channels_last)


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as e:  # optional extra
        raise ImportError("the ONNX backend needs onnxruntime: pip install 'clothpose[onnx]' "
                          "(or `make install`)") from e
    return onnxruntime


class OnnxBackend:
    """An onnxruntime session over a file written by ``tools/export_onnx.py``."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, image_size: tuple[int, int], num_keypoints: int,
                 device: str = "cpu", threads: int = 0):
        ort = _import_onnxruntime()
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: ONNX model file not found")
        opts = ort.SessionOptions()
        if threads > 0:
            opts.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(path), opts, providers=providers)
        self.path = path
        self.num_keypoints = int(num_keypoints)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        shape = list(inp.shape)
        want = [3, int(image_size[1]), int(image_size[0])]
        if len(shape) != 4 or [s for s in shape[1:]] != want:
            raise ValueError(f"{path}: input {inp.name!r} has shape {shape}; the config expects "
                             f"[batch, {want[0]}, {want[1]}, {want[2]}] (MODEL.IMAGE_SIZE "
                             f"{list(image_size)} is width, height)")

    def _run(self, x: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(x, np.float32)})[0]
        if out.ndim != 4 or out.shape[1] != self.num_keypoints:
            raise ValueError(f"{self.path}: output shape {list(out.shape)} does not have the "
                             f"scheme's {self.num_keypoints} keypoint channels")
        return out

    def heatmaps(self, inputs: np.ndarray, flip_index: np.ndarray | None,
                 shift_heatmap: bool) -> np.ndarray:
        heat = self._run(inputs)
        if flip_index is None:
            return heat
        flipped = self._run(inputs[..., ::-1])
        return average_with_flipped(heat, flipped, flip_index, shift_heatmap)
