"""Checkpoint conversion (mmpose, HRNet, gathierry's CPN) against layouts built from the sources'
naming rules and against reference networks that compute with those names."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from foreign_models import GathierryCPN, MMPoseTopdown, randomize
from model_keyspec import gathierry_cpn_keys, mmpose_topdown_res_keys

from clothpose.config import get_cfg, load_config
from clothpose.core.checkpoint import load_model_weights
from clothpose.keypoints import get_scheme
from clothpose.models import build_model, final_output
from clothpose.models.convert import ConversionError, convert_checkpoint, load_foreign_checkpoint
from clothpose.utils.io import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
MMPOSE_CFG = ROOT / "experiments/deepfashion2/_base_mmpose-res50_256x192.yaml"


def shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def mmpose_meta(flip_indices: list[int]) -> dict:
    """What mmengine stores beside the weights: strings, numbers, numpy arrays and scalars."""
    return {"mmengine_version": "0.3.1", "epoch": 210, "iter": 123456, "seed": np.int64(21),
            "experiment_name": "td-hm_res50_4xb64-210e_deepfasion2-vest-256x192_20221208",
            "dataset_meta": {"dataset_name": "deepfashion2", "num_keypoints": 294,
                             "flip_indices": flip_indices,
                             "sigmas": np.zeros(294, np.float32),
                             "keypoint_colors": np.zeros((294, 3), np.uint8)}}


def build(cfg_path=MMPOSE_CFG, opts=()) -> torch.nn.Module:
    return build_model(load_config(cfg_path, list(opts)), is_train=False).eval()


def convert(src, dst, source, cfg_path=MMPOSE_CFG, opts=()):
    cfg = load_config(cfg_path, list(opts))
    model = build_model(cfg, is_train=False)
    return convert_checkpoint(src, dst, source, model, get_scheme(cfg.DATASET.SCHEME).flip_index,
                              {"model": cfg.MODEL.NAME, "scheme": cfg.DATASET.SCHEME})


def test_mmpose_key_layout_of_the_294_channel_res50():
    keys = mmpose_topdown_res_keys(50, 294)
    # 53 convs + 53 BNs (5 tensors each) in ResNet-50, 3 deconvs + 3 BNs + final conv in the head
    assert len(keys) == 53 + 53 * 5 + 3 + 3 * 5 + 2 == 338
    assert keys["head.final_layer.weight"] == (294, 256, 1, 1)
    assert keys["head.deconv_layers.0.weight"] == (2048, 256, 4, 4)
    assert keys["backbone.layer4.0.downsample.0.weight"] == (2048, 1024, 1, 1)
    assert shapes(MMPoseTopdown(50, 294)) == keys  # the reference network has exactly them
    # and pose_resnet has the same tensors without the prefixes
    assert shapes(build()) == {k.split(".", 1)[1]: v for k, v in keys.items()}


def test_mmpose_0x_head_prefix_maps_like_the_1x_one():
    from clothpose.models.convert import rename_state_dict

    def renamed(head: str) -> list[str]:
        keys = mmpose_topdown_res_keys(50, 294, head=head)
        return list(rename_state_dict({k: torch.empty(0) for k in keys}, "mmpose"))

    assert renamed("keypoint_head") == renamed("head") == list(build().state_dict())


def test_mmpose_checkpoint_loads_strictly_and_predicts_like_its_source(tmp_path):
    ref = randomize(MMPoseTopdown(50, 294), seed=1)
    src = tmp_path / "res50_deepfashion2_vest_256x192-4c48d05c_20221208.pth"
    dst = tmp_path / "c.pth"
    flip = get_scheme("deepfashion2-mmpose").flip_index.tolist()
    torch.save({"meta": mmpose_meta(flip), "state_dict": ref.state_dict()}, src)
    report = convert(src, dst, "mmpose")
    assert report.tensors == 338 and report.flip_indices_match is True

    model = build()
    load_model_weights(model, dst)  # strict
    x = torch.randn(2, 3, 128, 96, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want, got = ref(x), model(x)
    assert got.shape == (2, 294, 32, 24)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5 * want.abs().max().item())

    prov = load_checkpoint(dst)["converted_from"]
    assert prov["source"] == "mmpose" and prov["file"] == src.name and len(prov["sha256"]) == 64
    assert prov["metadata"]["epoch"] == 210 and prov["metadata"]["seed"] == 21
    assert prov["metadata"]["dataset_name"] == "deepfashion2"
    assert prov["target"] == {"model": "pose_resnet", "scheme": "deepfashion2-mmpose"}


def test_flip_table_of_the_checkpoint_is_compared_with_the_scheme(tmp_path, caplog):
    src = tmp_path / "m.pth"
    torch.save({"meta": mmpose_meta(list(range(294))),
                "state_dict": MMPoseTopdown(50, 294).state_dict()}, src)
    report = convert(src, tmp_path / "c.pth", "mmpose")
    assert report.flip_indices_match is False
    assert "flip table stored in the checkpoint differs" in caplog.text
    assert load_checkpoint(tmp_path / "c.pth")["converted_from"]["flip_indices_match"] is False


def _as_numpy1_pickle(src: Path, dst: Path) -> None:
    """Rewrite a torch zip file as numpy 1.x writes it (numpy.core instead of numpy._core)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith("data.pkl"):
                assert b"numpy._core.multiarray" in data
                data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
            zout.writestr(info.filename, data)


def test_numpy_metadata_loads_with_weights_only_under_numpy_1_and_2_names(tmp_path):
    if not hasattr(torch.serialization, "safe_globals"):
        pytest.skip("torch < 2.5 has no safe_globals: numpy metadata is refused")
    if not hasattr(np, "_core"):
        pytest.skip("numpy 1.x writes numpy.core names itself")
    obj = {"meta": mmpose_meta([1, 0]), "state_dict": {"w": torch.ones(2)}}
    torch.save(obj, tmp_path / "np2.pth")
    _as_numpy1_pickle(tmp_path / "np2.pth", tmp_path / "np1.pth")
    for name in ("np2.pth", "np1.pth"):
        got = load_foreign_checkpoint(tmp_path / name)
        assert got["meta"]["dataset_meta"]["keypoint_colors"].shape == (294, 3)
        assert got["meta"]["seed"] == 21 and torch.equal(got["state_dict"]["w"], torch.ones(2))


class Pickled:  # any class: torch.load(weights_only=True) must refuse it
    def __init__(self):
        self.x = 1


def test_arbitrary_objects_are_refused_with_the_file_and_global_named(tmp_path):
    src = tmp_path / "hub.pth"
    torch.save({"meta": {"message_hub": Pickled()}, "state_dict": {"w": torch.ones(1)}}, src)
    with pytest.raises(ConversionError) as e:
        convert(src, tmp_path / "c.pth", "mmpose")
    msg = str(e.value)
    assert str(src) in msg and "weights_only=True" in msg and "Pickled" in msg
    assert not (tmp_path / "c.pth").exists()


def test_mismatched_missing_and_unknown_tensors_are_errors_and_write_nothing(tmp_path):
    dst = tmp_path / "c.pth"
    torch.save({"state_dict": MMPoseTopdown(50, 13).state_dict()}, tmp_path / "k13.pth")
    with pytest.raises(ConversionError, match=r"final_layer.weight: file \(13, 256, 1, 1\) vs "
                                              r"model \(294, 256, 1, 1\)"):
        convert(tmp_path / "k13.pth", dst, "mmpose")
    state = MMPoseTopdown(50, 294).state_dict()
    del state["backbone.layer3.5.bn2.running_var"]
    torch.save({"state_dict": state}, tmp_path / "missing.pth")
    with pytest.raises(ConversionError, match="1 model tensors missing.*layer3.5.bn2.running_var"):
        convert(tmp_path / "missing.pth", dst, "mmpose")
    state = MMPoseTopdown(50, 294).state_dict()
    state["neck.conv.weight"] = torch.zeros(1)
    torch.save({"state_dict": state}, tmp_path / "neck.pth")
    with pytest.raises(ConversionError, match="not part of a mmpose model.*neck.conv.weight"):
        convert(tmp_path / "neck.pth", dst, "mmpose")
    assert not dst.exists()


def test_hrnet_checkpoint_with_module_prefix_and_training_metadata(tmp_path):
    cfg_path = ROOT / "experiments/demo/tiny_agg81.yaml"
    ref = randomize(build(cfg_path), seed=4)
    state = {f"module.{k}": v for k, v in ref.state_dict().items()
             if not k.endswith("num_batches_tracked")}  # 2019 files have no BN counters
    torch.save({"epoch": 140, "model": "pose_hrnet", "perf": np.float64(0.75), "state_dict": state},
               tmp_path / "hr.pth")
    report = convert(tmp_path / "hr.pth", tmp_path / "c.pth", "hrnet", cfg_path)
    assert len(report.filled_counters) > 0
    model = build(cfg_path)
    load_model_weights(model, tmp_path / "c.pth")
    x = torch.randn(1, 3, 128, 96)
    with torch.no_grad():
        assert torch.allclose(model(x), ref(x), atol=1e-6)
    meta = load_checkpoint(tmp_path / "c.pth")["converted_from"]["metadata"]
    assert meta == {"epoch": 140, "model": "pose_hrnet", "perf": 0.75}


def cpn_cfg_opts() -> list[str]:
    return ["MODEL.EXTRA.NUM_LAYERS", "50", "DATASET.SCHEME", "fashionai-blouse",
            "MODEL.PRETRAINED", "", "MODEL.IMAGE_SIZE", "[64, 64]",
            "MODEL.HEATMAP_SIZE", "[16, 16]"]


def test_gathierry_cpn_renames_onto_cpn_and_computes_the_same(tmp_path):
    keys = gathierry_cpn_keys(50, 13)
    ref = randomize(GathierryCPN(50, 13), seed=5)
    assert shapes(ref) == keys
    # the reference's checkpoint dict (src/stage2/trainval.py), with a numpy loss value
    torch.save({"epoch": 30, "save_dir": "/checkpoints/", "state_dict": ref.state_dict(),
                "lr": 1e-4, "best_val_loss": np.float32(0.25)}, tmp_path / "kpt_blouse_030.ckpt")
    cfg_path = ROOT / "experiments/fashionai/cpn-resnet152_512x512.yaml"
    report = convert(tmp_path / "kpt_blouse_030.ckpt", tmp_path / "c.pth", "cpn-gathierry",
                     cfg_path, cpn_cfg_opts())
    assert report.tensors == len(keys)
    model = build(cfg_path, cpn_cfg_opts())
    load_model_weights(model, tmp_path / "c.pth")
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        (p2, refined), out = ref(x), model(x)
    assert torch.allclose(out[0], p2, rtol=1e-4, atol=1e-5 * p2.abs().max().item())
    assert torch.allclose(final_output(out), refined, rtol=1e-4,
                          atol=1e-5 * refined.abs().max().item())
    meta = load_checkpoint(tmp_path / "c.pth")["converted_from"]["metadata"]
    assert meta["epoch"] == 30 and meta["best_val_loss"] == pytest.approx(0.25)


def test_gathierry_layout_differs_from_ours_by_names_only():
    """Every reference tensor has exactly one counterpart of the same shape (a rename)."""
    from clothpose.models.convert import rename_state_dict

    ref_state = GathierryCPN(50, 13).state_dict()
    renamed = rename_state_dict(ref_state, "cpn-gathierry")
    assert len(renamed) == len(ref_state)
    ours = shapes(build(ROOT / "experiments/fashionai/cpn-resnet152_512x512.yaml", cpn_cfg_opts()))
    assert {k: tuple(v.shape) for k, v in renamed.items()} == ours


def test_default_config_still_matches_imagenet_normalisation():
    from clothpose.data.augment import IMAGENET_MEAN_255 as MEAN, IMAGENET_STD_255 as STD

    cfg = get_cfg()
    assert tuple(cfg.DATASET.PIXEL_MEAN) == MEAN and tuple(cfg.DATASET.PIXEL_STD) == STD
    np.testing.assert_allclose(np.array(MEAN) / 255, [0.485, 0.456, 0.406])
    np.testing.assert_allclose(np.array(STD) / 255, [0.229, 0.224, 0.225])
