"""CenterNet detector: key layout of both backbones, output shapes, head init, pretrained
loading through MODEL.PRETRAINED."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from model_keyspec import conv, hrnet_keys, resnet_keys

from clothpose.config import load_config
from clothpose.models import build_model
from clothpose.models.hrnet import build_pose_hrnet

ROOT = Path(__file__).resolve().parents[2]


def centernet_cfg(backbone: str = "hrnet", width: int = 8, image=(64, 64), **extra):
    opts = ["MODEL.NAME", "centernet", "MODEL.EXTRA.BACKBONE", backbone,
            "MODEL.IMAGE_SIZE", str(list(image))]
    if backbone == "hrnet":
        for s, n in (("STAGE2", 2), ("STAGE3", 3), ("STAGE4", 4)):
            opts += [f"MODEL.EXTRA.{s}.NUM_MODULES", "1",
                     f"MODEL.EXTRA.{s}.NUM_BLOCKS", str([1] * n),
                     f"MODEL.EXTRA.{s}.NUM_CHANNELS", str([width * 2 ** i for i in range(n)])]
    for k, v in extra.items():
        opts += [f"MODEL.EXTRA.{k}", str(v)]
    return load_config(None, opts, freeze=False)


def head_keys(c_in: int, head_conv: int, classes: int) -> dict:
    keys = {}
    for name, out in (("hm", classes), ("wh", 2), ("reg", 2)):
        keys |= conv(f"{name}.0", head_conv, c_in, 3, bias=True)
        keys |= conv(f"{name}.2", out, head_conv, 1, bias=True)
    return keys


def shapes(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_hrnet_w32_layout_is_the_hrnetv2_trunk_plus_heads():
    cfg = load_config(None, ["MODEL.NAME", "centernet", "MODEL.EXTRA.BACKBONE", "hrnet",
                             "MODEL.EXTRA.HEAD_CONV", "256"])
    model = build_model(cfg, is_train=False)
    widths = [32, 64, 128, 256]
    expected = hrnet_keys(widths, (1, 4, 3), 0, multi_scale=True)
    expected |= head_keys(sum(widths), 256, 13)          # 480 concatenated channels
    got = shapes(model)
    assert sorted(set(got) ^ set(expected)) == []
    assert {k: v for k, v in got.items() if expected[k] != v} == {}


def test_resnet_layout_is_torchvision_plus_deconvs_plus_heads():
    cfg = centernet_cfg("resnet", NUM_LAYERS=18, HEAD_CONV=64)
    got = shapes(build_model(cfg, is_train=False))
    expected = {k: v for k, v in resnet_keys(18).items() if not k.startswith("fc.")}
    c = 512
    for i in range(3):
        expected[f"deconv_layers.{3 * i}.weight"] = (c, 256, 4, 4)
        for s in ("weight", "bias", "running_mean", "running_var"):
            expected[f"deconv_layers.{3 * i + 1}.{s}"] = (256,)
        expected[f"deconv_layers.{3 * i + 1}.num_batches_tracked"] = ()
        c = 256
    expected |= head_keys(256, 64, 13)
    assert sorted(set(got) ^ set(expected)) == []
    assert {k: v for k, v in got.items() if expected[k] != v} == {}


def test_outputs_at_stride_4_and_prior_bias():
    for backbone in ("hrnet", "resnet"):
        cfg = centernet_cfg(backbone, image=(96, 64), NUM_LAYERS=18,
                            NUM_DECONV_FILTERS=[32, 32, 32], HEAD_CONV=16)
        model = build_model(cfg, is_train=True).eval()
        with torch.no_grad():
            out = model(torch.randn(2, 3, 64, 96))
        assert out.heatmap.shape == (2, 13, 16, 24)
        assert out.size.shape == out.offset.shape == (2, 2, 16, 24)
        # heads start near zero output: sigmoid(heatmap) at the prior 0.1 everywhere
        prob = torch.sigmoid(out.heatmap)
        assert torch.allclose(prob, torch.full_like(prob, 0.1), atol=0.01)
        assert torch.equal(model.hm[-1].bias, torch.full((13,), -2.19))


def test_pose_hrnet_checkpoint_loads_into_the_trunk(tmp_path):
    pose_cfg = load_config(None, ["MODEL.IMAGE_SIZE", "[64, 64]", "MODEL.HEATMAP_SIZE", "[16, 16]"],
                           freeze=False)
    for s, n in (("STAGE2", 2), ("STAGE3", 3), ("STAGE4", 4)):
        pose_cfg.MODEL.EXTRA[s].NUM_MODULES = 1
        pose_cfg.MODEL.EXTRA[s].NUM_BLOCKS = [1] * n
        pose_cfg.MODEL.EXTRA[s].NUM_CHANNELS = [8 * 2 ** i for i in range(n)]
    pose = build_pose_hrnet(pose_cfg)
    g = torch.Generator().manual_seed(0)
    state = {k: torch.rand(v.shape, generator=g) + 1 if v.dtype.is_floating_point else v
             for k, v in pose.state_dict().items()}
    path = tmp_path / "pose_hrnet.pth"
    torch.save({"state_dict": state}, path)
    cfg = centernet_cfg("hrnet")
    cfg.MODEL.PRETRAINED = str(path)
    model = build_model(cfg, is_train=True)
    got = model.state_dict()
    shared = [k for k in state if not k.startswith("final_layer")]
    assert all(torch.equal(got[k], state[k]) for k in shared)
    # the heads keep their own init, including the prior bias
    assert torch.equal(got["hm.2.bias"], torch.full((13,), -2.19))


def test_experiment_files_build_their_detectors():
    for name, backbone, channels in (("centernet-hrnet-w32_512x512", "hrnet", 480),
                                     ("centernet-resnet50_512x512", "resnet", 256)):
        cfg = load_config(ROOT / "experiments" / "deepfashion2" / f"{name}.yaml", [])
        assert cfg.MODEL.HEATMAP_SIZE == [128, 128] and cfg.LOSS.NAME == "centernet"
        model = build_model(cfg, is_train=False)
        assert model.hm[0].in_channels == channels and model.num_classes == 13
        assert cfg.MODEL.PRETRAINED.startswith("models/pytorch/imagenet/")


def test_hrnet_w18_and_w48_widths_follow_the_stage_channels():
    for width in (18, 48):
        cfg = load_config(None, ["MODEL.NAME", "centernet", "MODEL.EXTRA.BACKBONE", "hrnet"],
                          freeze=False)
        for s, n in (("STAGE2", 2), ("STAGE3", 3), ("STAGE4", 4)):
            cfg.MODEL.EXTRA[s].NUM_CHANNELS = [width * 2 ** i for i in range(n)]
        model = build_model(cfg, is_train=False)
        widths = [width * 2 ** i for i in range(4)]
        expected = hrnet_keys(widths, (1, 4, 3), 0, multi_scale=True) | head_keys(15 * width, 64, 13)
        assert shapes(model) == expected


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_mixed_precision_forward_and_loss_on_cuda():
    from clothpose.core.detection_loss import CenterNetLoss
    from clothpose.data.detection_targets import centernet_targets

    cfg = centernet_cfg("hrnet", image=(64, 64), HEAD_CONV=16)
    model = build_model(cfg, is_train=True).cuda().to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 64, 64, device="cuda").contiguous(memory_format=torch.channels_last)
    t = centernet_targets([[2.0, 2.0, 10.0, 12.0]], [3], 13, (16, 16))
    target = {k: torch.from_numpy(v)[None].repeat(2, *([1] * v.ndim)).cuda()
              for k, v in t.as_dict().items()}
    with torch.autocast("cuda", dtype=torch.float16):
        out = model(x)
    assert out.heatmap.dtype == torch.float16
    loss = CenterNetLoss()([o.float() for o in out], target)
    loss.backward()
    assert torch.isfinite(loss) and model.hm[-1].bias.grad is not None
