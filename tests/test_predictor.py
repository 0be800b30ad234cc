"""Predictor: test-time crops, hand-computed decoding geometry, PyTorch vs ONNX backends."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from clothpose.config import load_config
from clothpose.data import KeypointDataset
from clothpose.data.synthetic.generate import make_image
from clothpose.keypoints import get_scheme
from clothpose.models import build_model
from clothpose.predictor import Instance, Predictor
from clothpose.utils.transforms import PIXEL_STD

CFG = Path(__file__).resolve().parents[1] / "experiments" / "demo" / "tiny_agg81.yaml"
# PyTorch and onnxruntime run the same float32 graph; landmarks may only differ by rounding.
XY_TOL_PX, SCORE_TOL = 1e-2, 1e-5


def tiny_cfg(*opts):
    # Quarter-pixel decoding: the backend comparison is about the network outputs; DARK's
    # Taylor step amplifies 1e-6 differences on the near-flat maps of random weights.
    # the 96x128 geometry the hand-computed decoding below assumes (not the demo's own size)
    return load_config(str(CFG), ["MODEL.IMAGE_SIZE", "[96, 128]", "MODEL.HEATMAP_SIZE", "[24, 32]",
                                  "MODEL.SIGMA", "1.5", "TEST.BATCH_SIZE_PER_GPU", "4",
                                  "TEST.POST_PROCESS_DARK", "False", *opts])


def peaky_weights(cfg, seed: int = 0) -> dict:
    """Random weights whose heatmaps are O(1) with distinct maxima (HRNet's own init gives
    ~1e-11 outputs, where any decoding would look alike)."""
    torch.manual_seed(seed)
    model = build_model(cfg, is_train=False)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    model.eval()
    with torch.inference_mode():
        peak = model(torch.randn(2, 3, 128, 96)).abs().max().item()
    with torch.no_grad():
        model.final_layer.weight /= peak
    return model.state_dict()


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """Weights file, ONNX export and three synthetic scenes with their boxes."""
    from clothpose.predict.export import export_onnx

    d = tmp_path_factory.mktemp("predictor")
    cfg = tiny_cfg()
    state = peaky_weights(cfg)
    torch.save(state, d / "w.pth")
    model = build_model(cfg, is_train=False)
    model.load_state_dict(state)
    pytest.importorskip("onnxruntime")
    export_onnx(model, cfg.MODEL.IMAGE_SIZE, d / "m.onnx")
    rng = np.random.default_rng(3)
    images, boxes, cats, scores = [], [], [], []
    for _ in range(3):
        img, items = make_image(rng, (160, 200))
        images.append(img)
        boxes.append([(x1, y1, x2 - x1, y2 - y1) for x1, y1, x2, y2 in
                      (it["bounding_box"] for it in items)])
        cats.append([it["category_id"] for it in items])
        scores.append(list(rng.uniform(0.5, 1.0, len(items))))
    return d, images, boxes, cats, scores


def test_crop_is_the_test_time_crop_of_the_dataset(assets, tmp_path):
    d, images, boxes, cats, _ = assets
    cfg = tiny_cfg()
    path = tmp_path / "img.png"
    cv2.imwrite(str(path), images[0])
    box = np.asarray(boxes[0][0], np.float32)
    rec = {"image": str(path), "image_id": 1, "category_id": cats[0][0], "box": box,
           "keypoints": np.zeros((81, 3), np.float32)}
    ds = KeypointDataset([rec], get_scheme(cfg.DATASET.SCHEME), cfg.MODEL.IMAGE_SIZE,
                         cfg.MODEL.HEATMAP_SIZE, cfg.MODEL.SIGMA, is_train=False,
                         color_rgb=cfg.DATASET.COLOR_RGB)
    x_ds, _, _, meta = ds.prepared(0)
    x, center, scale = Predictor(cfg, weights=d / "w.pth").crop(images[0], box)
    np.testing.assert_array_equal(x, x_ds.numpy())
    np.testing.assert_array_equal(center, meta["center"])
    np.testing.assert_array_equal(scale, meta["scale"])


class PeakBackend:
    """Heatmaps with one symmetric peak of height ``value`` at (hx, hy) in every channel."""

    name = "fake"

    def __init__(self, k: int, hw: tuple[int, int], hx: int, hy: int, value: float):
        self.k, self.hw, self.hx, self.hy, self.value = k, hw, hx, hy, value

    def heatmaps(self, inputs, flip_index, shift_heatmap):
        h, w = self.hw
        yy, xx = np.mgrid[0:h, 0:w]
        g = self.value * np.exp(-((xx - self.hx) ** 2 + (yy - self.hy) ** 2) / 2.0)
        return np.broadcast_to(g, (len(inputs), self.k, h, w)).astype(np.float32)


def test_decoded_geometry_and_score_by_hand(assets):
    d = assets[0]
    p = Predictor(tiny_cfg(), weights=d / "w.pth")
    p.backend = PeakBackend(81, (32, 24), hx=6, hy=20, value=0.9)
    img = np.zeros((200, 150, 3), np.uint8)       # 150 / 200 = 0.75 = the model's aspect ratio
    (inst,) = p.predict([img], [[(0, 0, 150, 200)]], [[2]], [[0.5]])[0]
    # Box clipped as HRNet does: (0, 0, 149, 199) -> centre (74.5, 99.5); width widened to
    # 0.75 * 199 = 149.25; scale = size / 200 * 1.25; heatmap pixel -> image: stride s*200/24.
    sw, sh = 149.25 / PIXEL_STD * 1.25, 199 / PIXEL_STD * 1.25
    x = 74.5 + (6 - 12) * sw * PIXEL_STD / 24
    y = 99.5 + (20 - 16) * sh * PIXEL_STD / 32
    np.testing.assert_allclose(inst.keypoints[:, 0], x, atol=1e-3)
    np.testing.assert_allclose(inst.keypoints[:, 1], y, atol=1e-3)
    np.testing.assert_allclose(inst.keypoints[:, 2], 0.9, atol=1e-6)
    assert inst.score == pytest.approx(0.5 * 0.9, abs=1e-6)   # box score x mean landmark score
    assert inst.box == (0.0, 0.0, 149.0, 199.0) and inst.category_name == "long_sleeved_shirt"


def test_official_and_local_layouts():
    scheme = get_scheme("deepfashion2-agg81")
    kps = np.random.default_rng(0).uniform(1, 100, (81, 3))
    inst = Instance(7, (0, 0, 10, 10), kps, 0.5, 1.0, scheme)
    full = inst.keypoints_official()
    slots294 = list(get_scheme("deepfashion2").category(7).slots)
    assert full.shape == (294, 3)
    np.testing.assert_array_equal(full[slots294], inst.keypoints_local())
    np.testing.assert_array_equal(inst.keypoints_local(), kps[list(scheme.category(7).slots)])
    others = np.ones(294, bool)
    others[slots294] = False
    assert len(inst.keypoints_local()) == 10 and not full[others].any()


@pytest.mark.parametrize("flip", [False, True])
def test_pytorch_and_onnx_backends_agree(assets, flip):
    d, images, boxes, cats, scores = assets
    cfg = tiny_cfg()
    torch_p = Predictor(cfg, weights=d / "w.pth", flip_test=flip)
    onnx_p = Predictor(cfg, onnx=d / "m.onnx", flip_test=flip)
    a = torch_p.predict(images, boxes, cats, scores)
    b = onnx_p.predict(images, boxes, cats, scores)
    assert [len(r) for r in a] == [len(bx) for bx in boxes]
    ka = np.concatenate([[i.keypoints for i in r] for r in a])
    kb = np.concatenate([[i.keypoints for i in r] for r in b])
    assert np.abs(ka[..., :2] - kb[..., :2]).max() < XY_TOL_PX
    assert np.abs(ka[..., 2] - kb[..., 2]).max() < SCORE_TOL
    sa = np.array([i.score for r in a for i in r])
    sb = np.array([i.score for r in b for i in r])
    assert np.abs(sa - sb).max() < SCORE_TOL and sa.max() > 0.05
    assert [i.category_id for r in a for i in r] == [c for cs in cats for c in cs]


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_flip_test_heatmaps_are_mirror_symmetric(assets, backend):
    """Flip test without the pixel shift: H(mirrored x) = flip_back(H(x)) exactly, because the
    average of f(x) and flip_back(f(flip x)) is symmetric; and it differs from f(x) alone."""
    from clothpose.utils.transforms import flip_back

    d = assets[0]
    cfg = tiny_cfg()
    p = Predictor(cfg, **({"weights": d / "w.pth"} if backend == "torch" else
                          {"onnx": d / "m.onnx"}))
    fi = p.scheme.flip_index
    x = np.random.default_rng(1).standard_normal((2, 3, 128, 96)).astype(np.float32)
    heat = p.backend.heatmaps(x, fi, False)
    mirrored = p.backend.heatmaps(np.ascontiguousarray(x[..., ::-1]), fi, False)
    np.testing.assert_allclose(mirrored, flip_back(heat, fi), rtol=1e-5, atol=1e-6)
    plain = p.backend.heatmaps(x, None, False)
    assert np.abs(plain - heat).max() > 0.1 * np.abs(plain).max()
    shifted = p.backend.heatmaps(x, fi, True)       # HRNet's one-pixel shift of the flipped map
    np.testing.assert_allclose(2 * shifted[..., 1:] - plain[..., 1:],
                               2 * heat[..., :-1] - plain[..., :-1], rtol=1e-5, atol=1e-5)


def test_bad_inputs_are_named(assets):
    d, images, *_ = assets
    p = Predictor(tiny_cfg(), weights=d / "w.pth")
    with pytest.raises(ValueError, match="category 99 is not in scheme"):
        p.predict([images[0]], [[(0, 0, 10, 10)]], [[99]])
    with pytest.raises(ValueError, match="no area inside"):
        p.predict([images[0]], [[(500, 500, 10, 10)]], [[1]])
    with pytest.raises(ValueError, match="1 images but 2 box lists"):
        p.predict([images[0]], [[], []], [[]])
    from clothpose.predict.backends import OnnxBackend
    with pytest.raises(ValueError, match="MODEL.IMAGE_SIZE"):
        OnnxBackend(d / "m.onnx", (192, 256), 81)
