"""Selective, shape-checked pretrained loading (MODEL.PRETRAINED + PRETRAINED_LAYERS)."""
from __future__ import annotations

import logging
import os

import pytest
import torch
from model_keyspec import resnet_keys

from clothpose.config import get_cfg
from clothpose.models import build_model, load_pretrained
from clothpose.models.hrnet import build_pose_hrnet

LOGGER = "clothpose.models.weights"


def tiny_hrnet_cfg(num_joints: int):
    cfg = get_cfg()
    cfg.MODEL.NAME = "pose_hrnet"
    cfg.MODEL.NUM_JOINTS = num_joints
    cfg.MODEL.IMAGE_SIZE = [64, 64]
    for s, n in (("STAGE2", 2), ("STAGE3", 3), ("STAGE4", 4)):
        cfg.MODEL.EXTRA[s].NUM_MODULES = 1
        cfg.MODEL.EXTRA[s].NUM_BLOCKS = [1] * n
        cfg.MODEL.EXTRA[s].NUM_CHANNELS = [8 * 2 ** i for i in range(n)]
    return cfg


def random_state(keys_shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Values far from the N(0, 0.001) init so loaded and initialised weights are told apart."""
    g = torch.Generator().manual_seed(seed)
    return {k: (torch.rand(s, generator=g) + 1.0) if s else torch.tensor(7)
            for k, s in keys_shapes.items()}


def save(obj, path) -> str:
    torch.save(obj, path)
    return str(path)


def test_official_layout_checkpoint_loads_selected_layers(tmp_path, caplog):
    source = build_pose_hrnet(tiny_hrnet_cfg(num_joints=81)).state_dict()
    source = random_state({k: tuple(v.shape) for k, v in source.items()})
    wrapped = {"epoch": 3, "state_dict": {f"module.{k}": v for k, v in source.items()}}
    cfg = tiny_hrnet_cfg(num_joints=13)
    cfg.MODEL.PRETRAINED = save(wrapped, tmp_path / "pose_hrnet_w8.pth")
    layers = ["conv1", "bn1", "conv2", "bn2", "layer1", "stage2", "final_layer"]
    cfg.MODEL.EXTRA.PRETRAINED_LAYERS = layers
    with caplog.at_level(logging.INFO, logger=LOGGER):
        model = build_model(cfg)
    state = model.state_dict()
    selected = [k for k in source if k.split(".")[0] in layers and not k.startswith("final_layer")]
    for k in selected:
        assert torch.equal(state[k], source[k]), k
    # Layers outside PRETRAINED_LAYERS keep HRNet's init (BN weight 1, conv ~ N(0, 0.001)).
    assert torch.equal(state["stage3.0.branches.0.0.bn1.weight"], torch.ones(8))
    assert state["transition1.0.0.weight"].abs().max() < 0.01
    # The final layer (81 -> 13 keypoints) is re-initialised.
    assert state["final_layer.weight"].shape == (13, 8, 1, 1)
    assert state["final_layer.weight"].abs().max() < 0.01
    assert torch.equal(state["final_layer.bias"], torch.zeros(13))
    not_selected = [k for k in source if k.split(".")[0] not in layers]
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(messages) == 1
    line = messages[0]
    assert f"loaded {len(selected)};" in line
    assert "skipped (shape mismatch) 2 [final_layer.weight (81, 8, 1, 1)->(13, 8, 1, 1)" in line
    assert f"skipped (not in PRETRAINED_LAYERS) {len(not_selected)} [" in line
    assert "unexpected 0" in line
    missing = [k for k in state if k not in selected and not k.endswith("num_batches_tracked")]
    assert f"missing {len(missing)} [" in line and "(+" in line  # names truncated


def test_imagenet_hrnet_checkpoint_with_extra_heads_loads_its_matching_part(tmp_path):
    model = build_pose_hrnet(tiny_hrnet_cfg(num_joints=5))
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()
              if not k.startswith("final_layer")}
    # Classification HRNet: stage4's last module fuses every branch, plus its own heads.
    shapes |= {"stage4.0.fuse_layers.1.0.0.0.weight": (16, 8, 3, 3),
               "incre_modules.0.0.conv1.weight": (32, 8, 1, 1),
               "downsamp_modules.0.0.weight": (256, 128, 3, 3),
               "final_layer.0.weight": (2048, 1024, 1, 1), "final_layer.0.bias": (2048,),
               "classifier.weight": (1000, 2048), "classifier.bias": (1000,)}
    source = random_state(shapes, seed=1)
    report = load_pretrained(model, save(source, tmp_path / "hrnet_w8-imagenet.pth"), ["*"])
    state = model.state_dict()
    assert sorted(report.unexpected) == sorted(
        ["stage4.0.fuse_layers.1.0.0.0.weight", "incre_modules.0.0.conv1.weight",
         "downsamp_modules.0.0.weight", "final_layer.0.weight", "final_layer.0.bias",
         "classifier.weight", "classifier.bias"])
    assert report.missing == ["final_layer.weight", "final_layer.bias"]
    assert report.shape_mismatch == [] and report.not_selected == []
    assert all(torch.equal(state[k], source[k]) for k in report.loaded)
    assert len(report.loaded) == len(state) - 2


@pytest.mark.parametrize("name, head", [("pose_resnet", ("deconv_layers", "final_layer")),
                                        ("cpn", ("global_net", "refine_net"))])
def test_torchvision_resnet_layout_loads_into_backbone(tmp_path, name, head):
    cfg = get_cfg()
    cfg.MODEL.NAME = name
    cfg.MODEL.NUM_JOINTS = 4
    cfg.MODEL.IMAGE_SIZE = [64, 64]
    cfg.MODEL.EXTRA.NUM_LAYERS = 18
    source = random_state(resnet_keys(18), seed=2)
    cfg.MODEL.PRETRAINED = save(source, tmp_path / "resnet18-imagenet.pth")
    model = build_model(cfg)
    state = model.state_dict()
    backbone = [k for k in source if not k.startswith("fc.")]
    assert all(torch.equal(state[k], source[k]) for k in backbone)
    head_keys = [k for k in state if k not in source]
    assert head_keys and all(k.startswith(head) for k in head_keys)


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = save({"state_dict": {"conv1.weight": Exploit()}}, tmp_path / "evil.pth")
    model = build_pose_hrnet(tiny_hrnet_cfg(num_joints=5))
    with pytest.raises(ValueError, match="refused to load checkpoint"):
        load_pretrained(model, path)
    assert not marker.exists()


def test_missing_and_empty_checkpoints_are_clear_errors(tmp_path):
    cfg = tiny_hrnet_cfg(num_joints=5)
    cfg.MODEL.PRETRAINED = str(tmp_path / "nope.pth")
    with pytest.raises(FileNotFoundError, match=r"MODEL.PRETRAINED = '.*nope.pth' does not exist"):
        build_model(cfg)
    build_model(cfg, is_train=False)  # inference builds never read MODEL.PRETRAINED
    cfg.MODEL.PRETRAINED = save({"epoch": 1}, tmp_path / "meta.pth")
    with pytest.raises(ValueError, match="meta.pth: no tensors found"):
        build_model(cfg)
    cfg.MODEL.PRETRAINED = save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="list.pth: expected a state_dict"):
        build_model(cfg)


def test_init_from_checkpoint_takes_every_fitting_tensor(tmp_path):
    from clothpose.models import init_from_checkpoint

    source_model = build_pose_hrnet(tiny_hrnet_cfg(num_joints=81))
    source = random_state({k: tuple(v.shape) for k, v in source_model.state_dict().items()}, 3)
    path = save({"epoch": 9, "state_dict": source, "optimizer": {}}, tmp_path / "checkpoint.pth")
    same = build_pose_hrnet(tiny_hrnet_cfg(num_joints=81))
    report = init_from_checkpoint(same, path)
    assert report.missing == [] and report.unexpected == [] and report.shape_mismatch == []
    assert all(torch.equal(v, source[k]) for k, v in same.state_dict().items())
    # A checkpoint of another architecture fits nowhere: an error, not a silent no-op.
    prefixed = {f"backbone.{k}": v for k, v in random_state(resnet_keys(18)).items()}
    resnet = save(prefixed, tmp_path / "resnet18.pth")
    with pytest.raises(ValueError, match=r"TRAIN.INIT_FROM = '.*resnet18.pth': no tensor fits"):
        init_from_checkpoint(same, resnet)
