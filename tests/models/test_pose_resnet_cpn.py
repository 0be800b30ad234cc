"""SimpleBaseline pose_resnet and CPN: layouts, parameter counts, forward/backward shapes."""
from __future__ import annotations

import pytest
import torch
from model_keyspec import conv, bn, num_params, resnet_keys

from clothpose.config import get_cfg
from clothpose.models import build_model
from clothpose.models.cpn import build_cpn
from clothpose.models.resnet import build_pose_resnet


def make_cfg(name: str, depth: int = 50, num_joints: int = 17, image=(64, 64)):
    cfg = get_cfg()
    cfg.MODEL.NAME = name
    cfg.MODEL.NUM_JOINTS = num_joints
    cfg.MODEL.IMAGE_SIZE = list(image)
    cfg.MODEL.EXTRA.NUM_LAYERS = depth
    return cfg


def shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("depth, expected_params", [(50, 33_999_697), (101, 52_991_825)])
def test_pose_resnet_layout_matches_hrnet_repo(depth, expected_params):
    # SimpleBaseline model zoo: res50 34.0M, res101 53.0M parameters (17 joints, 3x256 deconvs).
    model = build_pose_resnet(make_cfg("pose_resnet", depth))
    expected = {k: v for k, v in resnet_keys(depth).items() if not k.startswith("fc.")}
    c = 2048
    for i in range(3):
        expected |= {f"deconv_layers.{3 * i}.weight": (c, 256, 4, 4)} | bn(f"deconv_layers.{3 * i + 1}", 256)
        c = 256
    expected |= conv("final_layer", 17, 256, 1, bias=True)
    assert shapes(model) == expected
    assert num_params(expected) == expected_params == sum(p.numel() for p in model.parameters())


def test_pose_resnet_deconv_options():
    cfg = make_cfg("pose_resnet", 18, num_joints=4)
    cfg.MODEL.EXTRA.NUM_DECONV_LAYERS = 2
    cfg.MODEL.EXTRA.NUM_DECONV_FILTERS = [32, 16]
    cfg.MODEL.EXTRA.NUM_DECONV_KERNELS = [3, 2]
    cfg.MODEL.EXTRA.DECONV_WITH_BIAS = True
    model = build_pose_resnet(cfg)
    got = shapes(model)
    assert got["deconv_layers.0.weight"] == (512, 32, 3, 3) and got["deconv_layers.0.bias"] == (32,)
    assert got["deconv_layers.3.weight"] == (32, 16, 2, 2)
    # two deconvs from stride 32 -> stride 8
    assert model(torch.zeros(1, 3, 96, 64)).shape == (1, 4, 12, 8)
    cfg.MODEL.EXTRA.NUM_DECONV_KERNELS = [4]
    with pytest.raises(ValueError, match="NUM_DECONV_KERNELS has 1 entries"):
        build_pose_resnet(cfg)


def test_pose_resnet_forward_backward():
    model = build_model(make_cfg("pose_resnet", 50, num_joints=6, image=(64, 96)))
    out = model(torch.randn(2, 3, 96, 64))
    assert out.shape == (2, 6, 24, 16)
    out.mean().backward()
    assert model.layer1[0].conv1.weight.grad.abs().sum() > 0


def test_cpn_structure():
    model = build_cpn(make_cfg("cpn", 50, num_joints=13))
    got = shapes(model)
    backbone = {k: v for k, v in resnet_keys(50).items() if not k.startswith("fc.")}
    assert {k: got[k] for k in backbone} == backbone  # ImageNet layout at the top level
    # GlobalNet: 1x1 laterals on C2..C5 to 256; the finest merge's 3x3 conv emits K maps.
    assert [got[f"global_net.lateral.{i}.weight"] for i in range(4)] == [
        (256, c, 1, 1) for c in (256, 512, 1024, 2048)]
    assert got["global_net.smooth.0.weight"] == (13, 256, 3, 3)
    assert got["global_net.smooth.2.weight"] == (256, 256, 3, 3)
    # RefineNet: P2 (K channels) goes through a projecting bottleneck; 1, 1, 2, 3 bottlenecks.
    assert got["refine_net.levels.0.0.conv1.weight"] == (64, 13, 1, 1)
    assert got["refine_net.levels.0.0.downsample.0.weight"] == (256, 13, 1, 1)
    for level, n in enumerate((1, 1, 2, 3)):
        assert f"refine_net.levels.{level}.{n - 1}.conv3.weight" in got
        assert f"refine_net.levels.{level}.{n}.conv3.weight" not in got
    assert got["refine_net.levels.3.3.weight"] == (256, 256, 16, 16)  # x8 transposed conv
    assert got["refine_net.fuse.0.downsample.0.weight"] == (256, 1024, 1, 1)
    assert got["refine_net.final_layer.weight"] == (13, 256, 1, 1)


def test_cpn_forward_backward_returns_global_and_refine():
    cfg = make_cfg("cpn", 50, num_joints=5, image=(64, 96))
    cfg.MODEL.EXTRA.FPN_CHANNELS = 64
    cfg.MODEL.EXTRA.REFINE_BLOCKS = [1, 1, 1, 1]
    model = build_model(cfg)
    out = model(torch.randn(2, 3, 96, 64))
    assert isinstance(out, list) and [o.shape for o in out] == [(2, 5, 24, 16)] * 2
    (out[0].mean() + out[1].mean()).backward()
    assert model.global_net.lateral[0].weight.grad.abs().sum() > 0
    assert model.refine_net.levels[3][0].conv1.weight.grad.abs().sum() > 0


def test_cpn_rejects_unimplemented_backbone_and_bad_refine_blocks():
    cfg = make_cfg("cpn")
    cfg.MODEL.EXTRA.BACKBONE = "senet154"
    with pytest.raises(ValueError, match="BACKBONE 'senet154' is not available"):
        build_cpn(cfg)
    cfg = make_cfg("cpn")
    cfg.MODEL.EXTRA.REFINE_BLOCKS = [1, 1, 2]
    with pytest.raises(ValueError, match="REFINE_BLOCKS has 3 entries"):
        build_cpn(cfg)


def test_resnet_depth_is_checked():
    with pytest.raises(ValueError, match="NUM_LAYERS 42 is not a ResNet depth"):
        build_pose_resnet(make_cfg("pose_resnet", 42))
