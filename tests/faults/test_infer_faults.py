"""tools/infer.py on inputs that used to lose outputs, mismatch boxes or run a random model."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from faultkit import AGG_CFG, TINY, cli, write_json
from PIL import Image

from clothpose.config import load_config
from clothpose.data.synthetic.generate import make_image
from clothpose.models import build_model


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> str:
    """Weights of the tiny model (random: these tests check plumbing, not accuracy)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("infer_w") / "w.pth"
    torch.save(build_model(load_config(AGG_CFG, TINY), is_train=False).state_dict(), path)
    return str(path)


def scene(path: Path, seed: int, size=(90, 120)) -> list[dict]:
    """A synthetic picture at ``path``; returns its garments' boxes as detections (no id)."""
    img, items = make_image(np.random.default_rng(seed), size)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return [{"category_id": it["category_id"], "score": 0.9,
             "bbox": [it["bounding_box"][0], it["bounding_box"][1],
                      it["bounding_box"][2] - it["bounding_box"][0],
                      it["bounding_box"][3] - it["bounding_box"][1]]} for it in items]


def infer(weights: str | None, images, out: Path, *extra) -> object:
    args = ["--cfg", AGG_CFG, "--images", images, "--out", out, "--no-progress"]
    return cli("infer", *args, *(["--weights", weights] if weights else []), *extra, *TINY)


def test_inputs_sharing_a_stem_keep_their_own_outputs(weights, tmp_path):
    d = tmp_path / "in"
    for i, rel in enumerate(["a/x.jpg", "b/x.jpg", "b/x.png"]):
        scene(d / rel, i)
    r = infer(weights, f"{d}/*/x.*", tmp_path / "out", "--category", "1")
    assert r.rc == 0, r.err
    out = tmp_path / "out"
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json"))
    assert names == ["a/x.json", "b/x.jpg.json", "b/x.png.json", "results.json"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == \
        ["a/x.png", "b/x.jpg.png", "b/x.png.png"]
    files = {json.loads((out / n).read_text())[0]["file_name"] for n in names[:3]}
    assert files == {"a/x.jpg", "b/x.jpg", "b/x.png"}
    assert len(json.loads((out / "results.json").read_text())) == 3
    assert r.out.strip().splitlines()[-1].startswith("3 images, 3 instances")


def test_detections_match_their_image_by_a_stated_rule(weights, tmp_path):
    d = tmp_path / "in"
    dets = []
    for name, seed in (("000005.jpg", 1), ("000007.jpg", 2)):
        dets += [dict(x, image_id=int(name[:6])) for x in scene(d / name, seed)]
    photo = [dict(x, image_id=1, file_name="photo.jpg") for x in scene(d / "photo.jpg", 3)]
    scene(d / "holiday.jpg", 4)  # no detection names it
    det = write_json(tmp_path / "det.json", dets + photo)
    r = infer(weights, d, tmp_path / "out", "--detections", det)
    assert r.rc == 0, r.err
    out = tmp_path / "out"
    for name, want in (("000005", [x for x in dets if x["image_id"] == 5]),
                       ("000007", [x for x in dets if x["image_id"] == 7]), ("photo", photo)):
        got = json.loads((out / f"{name}.json").read_text())
        assert [e["category_id"] for e in got] == [x["category_id"] for x in want], name
        np.testing.assert_allclose([e["bbox"][:2] for e in got],
                                   [np.maximum(x["bbox"][:2], 0) for x in want], atol=1)
    assert json.loads((out / "holiday.json").read_text()) == []
    assert "1 images got no box to predict: holiday.jpg" in r.out
    assert "1 images without a box" in r.out
    # ids of the results: file numbers; names without one get fresh ids above them
    # (sorted: holiday.jpg 8, photo.jpg 9), never the detection's image_id 1
    ids = {e["image_id"] for e in json.loads((out / "results.json").read_text())}
    assert ids == {5, 7, 9}


def test_detections_of_a_shared_number_need_a_file_name(weights, tmp_path):
    d = tmp_path / "in"
    dets = [dict(x, image_id=1) for x in scene(d / "1.jpg", 1)]
    scene(d / "001.png", 2)
    r = infer(weights, d, tmp_path / "out", "--detections", write_json(tmp_path / "det.json", dets))
    assert r.rc == 2
    line = r.one_error()
    assert "det.json: [0].image_id: image_id 1 is the number of several inputs" in line
    assert "1.jpg" in line and "001.png" in line and "file_name" in line


def test_detections_naming_no_input_image_are_an_error(weights, tmp_path):
    d = tmp_path / "in"
    dets = [dict(x, image_id=99) for x in scene(d / "000001.jpg", 1)]
    r = infer(weights, d, tmp_path / "out", "--detections", write_json(tmp_path / "det.json", dets))
    assert r.rc == 2
    assert f"none of its {len(dets)} boxes names one of the 1 input images" in r.one_error()


def test_no_weights_is_an_error_not_a_random_model(tmp_path):
    scene(tmp_path / "in" / "000001.jpg", 1)
    r = infer(None, tmp_path / "in", tmp_path / "out", "--category", "1")
    assert r.rc == 2 and "--weights: no weights given" in r.one_error()
    assert not (tmp_path / "out" / "000001.json").exists()


def test_category_the_model_does_not_predict_is_an_error(weights, tmp_path):
    scene(tmp_path / "in" / "000001.jpg", 1)
    r = infer(weights, tmp_path / "in", tmp_path / "out", "--category", "14")
    assert r.rc == 2 and "--category: category 14 is not predicted" in r.one_error()


def test_unreadable_images_only_is_an_error(weights, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "000001.jpg").write_bytes(b"not an image")
    r = infer(weights, tmp_path / "in", tmp_path / "out", "--category", "1")
    assert r.rc == 2 and "none of the 1 images could be read" in r.one_error()


def test_exif_orientation_is_honoured(weights, tmp_path):
    """A phone photo stored 120 wide x 90 high with EXIF 'rotate 90' is shown 90 x 120."""
    stored = np.zeros((90, 120, 3), np.uint8)
    stored[:, :60] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "in" / "000001.jpg"
    path.parent.mkdir()
    Image.fromarray(stored[..., ::-1]).save(path, exif=exif.tobytes(), quality=95)
    r = infer(weights, tmp_path / "in", tmp_path / "out", "--category", "1")
    assert r.rc == 0, r.err
    (entry,) = json.loads((tmp_path / "out" / "000001.json").read_text())
    assert entry["bbox"] == [0, 0, 89, 119]                       # the upright 90 x 120 frame
    png = cv2.imread(str(tmp_path / "out" / "000001.png"))
    assert png.shape[:2] == (120, 90)
    assert "1 turned upright by their EXIF orientation" in r.out
