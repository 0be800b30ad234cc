"""build_model: registry, init, output convention, devices, channels_last, autocast, ONNX."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from clothpose.config import get_cfg
from clothpose.models import DETECTORS, MODEL_BUILDERS, build_model, final_output

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def tiny_cfg(name: str, num_joints: int = 5, image=(64, 96)):
    """Smallest configs of every family (input width x height = 64 x 96)."""
    cfg = get_cfg()
    cfg.MODEL.NAME = name
    cfg.MODEL.NUM_JOINTS = num_joints
    cfg.MODEL.IMAGE_SIZE = list(image)
    for s, n in (("STAGE2", 2), ("STAGE3", 3), ("STAGE4", 4)):
        cfg.MODEL.EXTRA[s].NUM_MODULES = 1
        cfg.MODEL.EXTRA[s].NUM_BLOCKS = [1] * n
        cfg.MODEL.EXTRA[s].NUM_CHANNELS = [8 * 2 ** i for i in range(n)]
    cfg.MODEL.EXTRA.NUM_LAYERS = 18
    cfg.MODEL.EXTRA.NUM_DECONV_FILTERS = [32, 32, 32]
    cfg.MODEL.EXTRA.FPN_CHANNELS = 32
    cfg.MODEL.EXTRA.REFINE_BLOCKS = [1, 1, 1, 1]
    return cfg


FAMILIES = sorted(set(MODEL_BUILDERS) - DETECTORS)   # heatmap models (detector: test_centernet)


def test_registry_and_unknown_name():
    assert FAMILIES == ["cpn", "pose_hrnet", "pose_resnet"]
    assert sorted(DETECTORS) == ["centernet"]
    cfg = tiny_cfg("pose_hourglass")
    with pytest.raises(ValueError, match=r"MODEL.NAME 'pose_hourglass' is unknown; valid names: "
                                         r"\['centernet', 'cpn', 'pose_hrnet', 'pose_resnet'\]"):
        build_model(cfg)


def test_image_size_must_be_a_multiple_of_32():
    with pytest.raises(ValueError, match=r"MODEL.IMAGE_SIZE \[48, 64\]: .* multiples of 32"):
        build_model(tiny_cfg("pose_hrnet", image=(48, 64)))


@pytest.mark.parametrize("name", FAMILIES)
def test_hrnet_style_init_and_output_channels(name):
    torch.manual_seed(0)
    model = build_model(tiny_cfg(name, num_joints=7))
    convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    weights = torch.cat([m.weight.flatten() for m in convs])
    assert abs(weights.std().item() - 0.001) < 1e-4
    assert all(m.bias is None or not m.bias.any() for m in convs)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(m.weight.eq(1).all() and not m.bias.any() for m in bns)
    out = final_output(model(torch.zeros(1, 3, 96, 64)))
    assert out.shape == (1, 7, 24, 16)


def test_final_output_convention():
    a, b = torch.zeros(1), torch.ones(1)
    assert final_output(a) is a
    assert final_output([a, b]) is b
    assert final_output((a, b)) is b
    with pytest.raises(ValueError, match="empty"):
        final_output([])


def run(model, x):
    out = model(x)
    return out if isinstance(out, list) else [out]


@pytest.mark.parametrize("name", FAMILIES)
def test_channels_last_and_cpu_autocast_match(name):
    torch.manual_seed(0)
    model = build_model(tiny_cfg(name)).eval()
    x = torch.randn(2, 3, 96, 64)
    with torch.no_grad():
        ref = run(model, x)
        cl = run(model.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            amp = run(model, x)
    for r, c, a in zip(ref, cl, amp):
        torch.testing.assert_close(c, r, rtol=1e-4, atol=1e-6)
        assert a.shape == r.shape and torch.isfinite(a.float()).all()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # legacy exporter (no onnxscript)
@pytest.mark.parametrize("name", ["pose_hrnet", "cpn"])
def test_onnx_export_matches_pytorch(tmp_path, name):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = build_model(tiny_cfg(name)).eval()
    x = torch.randn(1, 3, 96, 64)
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(model, (x,), str(path), input_names=["image"], opset_version=17,
                      dynamo=False)
    onnx.checker.check_model(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": x.numpy()})
    with torch.no_grad():
        ref = run(model, x)
    assert len(got) == len(ref)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r.numpy(), rtol=1e-3, atol=1e-6)


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("name", FAMILIES)
def test_cuda_forward_backward_amp_channels_last(name):
    model = build_model(tiny_cfg(name)).to("cuda").to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 96, 64, device="cuda").to(memory_format=torch.channels_last)
    with torch.autocast("cuda", dtype=torch.float16):
        outs = run(model, x)
        loss = sum(o.float().square().mean() for o in outs)
    loss.backward()
    assert all(o.shape == (2, 5, 24, 16) and o.device.type == "cuda" for o in outs)
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for p in model.parameters() if p.requires_grad)
    model.eval()
    with torch.no_grad():
        cpu = run(model.float().cpu().to(memory_format=torch.contiguous_format), x.float().cpu())
        gpu = run(model.to("cuda"), x.float())
    for c, g in zip(cpu, gpu):
        torch.testing.assert_close(g.cpu(), c, rtol=1e-2, atol=1e-5)
