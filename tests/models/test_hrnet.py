"""HRNet: official key layout, parameter counts, forward/backward shapes."""
from __future__ import annotations

import pytest
import torch
from model_keyspec import hrnet_keys, num_params

from clothpose.config import get_cfg
from clothpose.models import build_model
from clothpose.models.hrnet import build_pose_hrnet


def hrnet_cfg(width: int = 32, num_joints: int = 17, modules=(1, 4, 3), blocks: int = 4,
              image=(64, 64)):
    cfg = get_cfg()
    cfg.MODEL.NAME = "pose_hrnet"
    cfg.MODEL.NUM_JOINTS = num_joints
    cfg.MODEL.IMAGE_SIZE = list(image)
    for s, n_br, n_mod in (("STAGE2", 2, modules[0]), ("STAGE3", 3, modules[1]),
                           ("STAGE4", 4, modules[2])):
        cfg.MODEL.EXTRA[s].NUM_MODULES = n_mod
        cfg.MODEL.EXTRA[s].NUM_BLOCKS = [blocks] * n_br
        cfg.MODEL.EXTRA[s].NUM_CHANNELS = [width * 2 ** i for i in range(n_br)]
    return cfg


def shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("width, expected_params", [(32, 28_536_113), (48, 63_595_745)])
def test_full_size_layout_and_parameter_count(width, expected_params):
    # Counts of the official pose_hrnet built with NUM_JOINTS 17 (COCO); the model zoo rounds
    # them to 28.5M and 63.6M.
    model = build_pose_hrnet(hrnet_cfg(width))
    expected = hrnet_keys([width * 2 ** i for i in range(4)], (1, 4, 3), 17)
    got = shapes(model)
    assert sorted(set(got) ^ set(expected)) == []
    assert {k: v for k, v in got.items() if expected[k] != v} == {}
    assert num_params(expected) == expected_params
    assert sum(p.numel() for p in model.parameters()) == expected_params


def test_spot_checks_w32_keys_known_from_official_checkpoints():
    got = shapes(build_pose_hrnet(hrnet_cfg(32)))
    known = {
        "conv1.weight": (64, 3, 3, 3),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "layer1.3.conv3.weight": (256, 64, 1, 1),
        "transition1.0.0.weight": (32, 256, 3, 3),
        "transition1.1.0.0.weight": (64, 256, 3, 3),
        "transition2.2.0.0.weight": (128, 64, 3, 3),
        "transition3.3.0.0.weight": (256, 128, 3, 3),
        "stage2.0.branches.1.3.conv2.weight": (64, 64, 3, 3),
        "stage2.0.fuse_layers.0.1.0.weight": (32, 64, 1, 1),
        "stage2.0.fuse_layers.1.0.0.0.weight": (64, 32, 3, 3),
        "stage3.3.fuse_layers.2.0.0.0.weight": (32, 32, 3, 3),
        "stage3.3.fuse_layers.2.0.1.0.weight": (128, 32, 3, 3),
        "stage4.2.fuse_layers.0.3.0.weight": (32, 256, 1, 1),
        "stage4.2.fuse_layers.0.3.1.running_var": (32,),
        "stage4.1.fuse_layers.3.0.2.0.weight": (256, 32, 3, 3),
        "stage4.1.fuse_layers.3.0.1.0.weight": (32, 32, 3, 3),
        "final_layer.weight": (17, 32, 1, 1),
        "final_layer.bias": (17,),
    }
    assert {k: got.get(k) for k in known} == known
    # The last stage-4 module only fuses into the high-resolution branch.
    assert not any(k.startswith("stage4.2.fuse_layers.1.") for k in got)
    assert any(k.startswith("stage4.1.fuse_layers.1.") for k in got)


def test_tiny_layout_with_other_widths_and_blocks():
    cfg = hrnet_cfg(8, num_joints=5, modules=(1, 1, 1), blocks=1)
    cfg.MODEL.EXTRA.FINAL_CONV_KERNEL = 3
    expected = hrnet_keys([8, 16, 32, 64], (1, 1, 1), 5, blocks=1)
    expected["final_layer.weight"] = (5, 8, 3, 3)
    assert shapes(build_pose_hrnet(cfg)) == expected


def test_forward_backward_shapes():
    cfg = hrnet_cfg(8, num_joints=5, modules=(1, 1, 1), blocks=1, image=(64, 96))
    model = build_model(cfg)
    x = torch.randn(2, 3, 96, 64)
    out = model(x)
    assert out.shape == (2, 5, 24, 16)
    out.square().mean().backward()
    assert model.conv1.weight.grad is not None and model.conv1.weight.grad.abs().sum() > 0
    assert model.final_layer.bias.grad.shape == (5,)


def test_bad_stage_config_is_reported():
    cfg = hrnet_cfg(8)
    cfg.MODEL.EXTRA.STAGE3.NUM_CHANNELS = [8, 16]
    with pytest.raises(ValueError, match=r"STAGE3\.NUM_CHANNELS has 2 entries, expected"):
        build_pose_hrnet(cfg)
    cfg = hrnet_cfg(8)
    cfg.MODEL.EXTRA.STAGE2.BLOCK = "WIDE"
    with pytest.raises(ValueError, match="unknown block 'WIDE'"):
        build_pose_hrnet(cfg)
