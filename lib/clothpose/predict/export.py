"""ONNX export of a landmark network or detector and its numerical check against PyTorch.

The exported graph maps a normalised NCHW float32 batch (dynamic batch axis, fixed
``MODEL.IMAGE_SIZE``) to the heatmaps that are decoded; models returning several stages (CPN)
export only the final one. A detector (CenterNet) exports its three outputs, named by the
model's ``onnx_output_names`` (heatmap logits, size, offset), decoded outside the graph exactly
as for PyTorch. The TorchScript-based exporter is used: the torch.export-based one needs the
``onnxscript`` package, which is not a dependency here.
"""
from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..models import final_output
from ..utils.io import give_usual_mode

logger = logging.getLogger(__name__)
INPUT_NAME, OUTPUT_NAME = "input", "heatmaps"


class FinalHeatmaps(nn.Module):
    """Wraps a model so that its forward returns only the heatmaps to decode (or, for a model
    with several named outputs, the plain tuple of them)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.output_names = tuple(getattr(model, "onnx_output_names", (OUTPUT_NAME,)))

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        out = self.model(x)
        if len(self.output_names) > 1:
            return tuple(out)
        return final_output(out)


def output_names(model: nn.Module) -> tuple[str, ...]:
    """Names of the exported graph's outputs (``heatmaps`` for landmark models)."""
    return FinalHeatmaps(model).output_names


def export_onnx(model: nn.Module, image_size: Sequence[int], path: str | Path,
                opset: int = 17, metadata: dict[str, str] | None = None) -> Path:
    """Write ``model`` (eval mode, CPU) to ``path`` atomically; returns the path.

    ``image_size`` is (width, height) as in ``MODEL.IMAGE_SIZE``; ``metadata`` goes into the
    ONNX model's metadata_props (e.g. the scheme name) so a file documents what it expects.
    """
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = int(image_size[0]), int(image_size[1])
    wrapped = FinalHeatmaps(model.cpu().eval())
    dummy = torch.zeros(1, 3, h, w)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # legacy exporter notice
            names = list(wrapped.output_names)
            torch.onnx.export(wrapped, (dummy,), tmp, input_names=[INPUT_NAME],
                              output_names=names, opset_version=opset,
                              dynamic_axes={n: {0: "batch"} for n in [INPUT_NAME, *names]},
                              do_constant_folding=True, dynamo=False)
        proto = onnx.load(tmp)
        for key, value in (metadata or {}).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = str(key), str(value)
        onnx.save(proto, tmp)
        give_usual_mode(tmp)  # mkstemp made it 0600; other outputs are 0644 (umask 022)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    logger.info("exported %s (opset %d, input [batch, 3, %d, %d])", path, opset, h, w)
    return path


def check_onnx(path: str | Path, model: nn.Module, image_size: Sequence[int],
               batch_sizes: Sequence[int] = (1, 3), seed: int = 0) -> tuple[float, float]:
    """``onnx.checker`` on the file, then onnxruntime (CPU) vs PyTorch on random inputs of each
    batch size; returns the max abs difference of the outputs (every output of a detector) over
    all of them and the max abs PyTorch output value (the scale the difference is relative to)."""
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(str(path), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    w, h = int(image_size[0]), int(image_size[1])
    gen = torch.Generator().manual_seed(seed)
    wrapped = FinalHeatmaps(model.cpu().eval())
    worst, peak = 0.0, 0.0
    for n in batch_sizes:
        x = torch.randn(n, 3, h, w, generator=gen)
        with torch.inference_mode():
            refs = wrapped(x)
        refs = [r.numpy() for r in (refs if isinstance(refs, tuple) else (refs,))]
        gots = session.run(None, {INPUT_NAME: x.numpy()})
        for name, got, ref in zip(wrapped.output_names, gots, refs):
            if got.shape != ref.shape:
                raise ValueError(f"{path}: batch {n}: onnxruntime output {name!r} "
                                 f"{list(got.shape)} != PyTorch {list(ref.shape)}")
            worst = max(worst, float(np.abs(got - ref).max()))
            peak = max(peak, float(np.abs(ref).max()))
    return worst, peak
