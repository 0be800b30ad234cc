"""tools/export_onnx.py: checker, dynamic batch, PyTorch parity, failure exit code, CPN."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from clothpose.config import load_config
from clothpose.models import build_model

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[2]
CFG = ROOT / "experiments" / "demo" / "tiny_agg81.yaml"
TOL = 1e-4   # max abs heatmap difference accepted for O(1) heatmaps
_CFG = load_config(str(CFG), [])
W, H = _CFG.MODEL.IMAGE_SIZE          # the demo config's input and heatmap sizes
HW, HH = _CFG.MODEL.HEATMAP_SIZE


def load_tool():
    spec = importlib.util.spec_from_file_location("tool_export_onnx",
                                                  ROOT / "tools" / "export_onnx.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


EXPORT = load_tool()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("export")
    cfg = load_config(str(CFG), [])
    torch.manual_seed(1)
    model = build_model(cfg, is_train=False)
    for m in model.modules():                 # heatmaps of order 1, like a trained model's
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    model.eval()
    with torch.no_grad():
        model.final_layer.weight /= model(torch.randn(1, 3, H, W)).abs().max()
    torch.save({"state_dict": model.state_dict()}, d / "w.pth")
    assert EXPORT.main(["--cfg", str(CFG), "--weights", str(d / "w.pth"), "--out",
                        str(d / "m.onnx"), "--opset", "17", "--tolerance", str(TOL)]) == 0
    return d, model


def test_checker_metadata_and_dynamic_batch(exported, capsys):
    d, model = exported
    proto = onnx.load(str(d / "m.onnx"))
    onnx.checker.check_model(proto)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["clothpose.scheme"] == "deepfashion2-agg81"
    assert meta["clothpose.image_size"] == f"{W}x{H}"
    assert proto.opset_import[0].version == 17
    sess = ort.InferenceSession(str(d / "m.onnx"), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape[1:] == [3, H, W]
    worst, peak = 0.0, 0.0
    for n in (1, 3, 5):
        x = torch.randn(n, 3, H, W)
        with torch.inference_mode():
            ref = model(x).numpy()
        got = sess.run(None, {"input": x.numpy()})[0]
        assert got.shape == (n, 81, HH, HW)
        worst, peak = max(worst, np.abs(got - ref).max()), max(peak, np.abs(ref).max())
    assert worst < TOL and peak > 0.1


@pytest.mark.parametrize("diff,peak,rc", [(5e-5, 0.8, 0), (2e-4, 0.8, 1), (2e-4, 4.0, 0)])
def test_tool_exit_code_follows_tolerance(exported, tmp_path, capsys, monkeypatch,
                                          diff, peak, rc):
    """Exit 1 above --tolerance x max(1, heatmap max); the measured diff is printed."""
    d, _ = exported
    monkeypatch.setattr(EXPORT, "check_onnx", lambda *a, **k: (diff, peak))
    capsys.readouterr()
    got = EXPORT.main(["--cfg", str(CFG), "--weights", str(d / "w.pth"), "--out",
                       str(tmp_path / "m.onnx"), "--tolerance", "1e-4"])
    out = capsys.readouterr().out
    assert got == rc and f"max abs diff {diff:.3e}" in out
    assert ("FAILED" in out) == (rc == 1)


def test_multi_output_model_exports_final_stage(tmp_path):
    """CPN returns [global, refine]: the file's single output is the refine heatmaps."""
    from clothpose.predict.export import check_onnx, export_onnx

    class TwoStage(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Conv2d(3, 4, 3, stride=4, padding=1)
            self.b = torch.nn.Conv2d(4, 4, 1)

        def forward(self, x):
            g = self.a(x)
            return [g, self.b(g) * 2]

    model = TwoStage().eval()
    path = export_onnx(model, (32, 64), tmp_path / "two.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert len(sess.get_outputs()) == 1
    x = torch.randn(2, 3, 64, 32)
    with torch.inference_mode():
        want = model(x)[1].numpy()
    np.testing.assert_allclose(sess.run(None, {"input": x.numpy()})[0], want, atol=1e-5)
    diff, peak = check_onnx(path, model, (32, 64))
    assert diff < 1e-5 * max(1.0, peak)


def test_detector_exports_three_outputs_that_decode_like_pytorch(tmp_path, capsys):
    from clothpose.core.detection_decode import decode_centernet, merge_flip

    cfg_path = ROOT / "experiments" / "demo" / "tiny_centernet.yaml"
    opts = ["MODEL.IMAGE_SIZE", "[96, 64]"]
    cfg = load_config(str(cfg_path), opts)
    torch.manual_seed(2)
    model = build_model(cfg, is_train=False)
    for m in model.modules():                 # outputs of order 1, like a trained model's
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    model.eval()
    torch.save(model.state_dict(), tmp_path / "d.pth")
    assert EXPORT.main(["--cfg", str(cfg_path), "--weights", str(tmp_path / "d.pth"), "--out",
                        str(tmp_path / "d.onnx"), *opts]) == 0
    assert "-> OK" in capsys.readouterr().out
    proto = onnx.load(str(tmp_path / "d.onnx"))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["clothpose.model"] == "centernet" and meta["clothpose.num_classes"] == "13"
    sess = ort.InferenceSession(str(tmp_path / "d.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["heatmap", "size", "offset"]
    x = torch.randn(2, 3, 64, 96)
    with torch.inference_mode():
        ref = model(x)
        ref_f = model(x.flip(3))
    got = sess.run(None, {"input": x.numpy()})
    got_f = sess.run(None, {"input": x.flip(3).numpy()})
    assert [g.shape for g in got] == [(2, 13, 16, 24), (2, 2, 16, 24), (2, 2, 16, 24)]
    for g, r in zip(got, ref):
        assert np.abs(g - r.numpy()).max() < 1e-4 * max(1.0, float(r.abs().max()))
    det_ref = decode_centernet(*merge_flip(ref[0], ref[1], ref[2], ref_f[0], ref_f[1]), k=20)
    det_got = decode_centernet(*merge_flip(got[0], got[1], got[2], got_f[0], got_f[1]), k=20)
    np.testing.assert_allclose(det_got.scores, det_ref.scores, atol=1e-5)
    np.testing.assert_allclose(det_got.boxes, det_ref.boxes, atol=1e-3)
