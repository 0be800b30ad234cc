"""FashionAI CSV parsing, submission writing, records and the merge tool."""
from __future__ import annotations

import runpy
from pathlib import Path

import cv2
import numpy as np
import pytest

from clothpose.data.fashionai_csv import (ABSENT_CELL, HEADER, FashionAICSVError, merge_results,
                                          read_annotations, read_image_size, read_test_list,
                                          rows_to_records, write_submission)
from clothpose.keypoints import get_scheme
from clothpose.keypoints import fashionai as fai

IDX = {n: i for i, n in enumerate(fai.KEYPOINTS)}
TOOL = Path(__file__).resolve().parents[2] / "tools" / "merge_fashionai.py"


def row(image_id: str, category: str, cells: dict[str, str]) -> str:
    return ",".join([image_id, category] + [cells.get(n, ABSENT_CELL) for n in fai.KEYPOINTS])


def write_csv(path: Path, lines: list[str], header: str = ",".join(HEADER)) -> Path:
    path.write_text("\n".join([header] + lines) + "\n")
    return path


BLOUSE = {"neckline_left": "241_100_1", "armpit_left": "200_200_0", "armpit_right": "300_210_1"}
SKIRT = {"waistband_left": "10_20_1", "waistband_right": "30_60_0", "hemline_left": "5_90_-1"}


@pytest.fixture
def ann(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "train.csv", [row("Images/blouse/a.jpg", "blouse", BLOUSE),
                                              row("Images/skirt/b.jpg", "skirt", SKIRT)])


def test_read_annotations_values(ann: Path) -> None:
    t = read_annotations(ann)
    assert t.image_ids == ["Images/blouse/a.jpg", "Images/skirt/b.jpg"]
    assert t.category_ids.tolist() == [1, 4] and t.category_names == ["blouse", "skirt"]
    assert t.keypoints.shape == (2, 24, 3)
    assert t.keypoints[0, IDX["neckline_left"]].tolist() == [241, 100, 1]
    assert t.keypoints[0, IDX["armpit_left"]].tolist() == [200, 200, 0]
    assert t.keypoints[1, IDX["waistband_right"]].tolist() == [30, 60, 0]
    assert t.keypoints[1, IDX["hemline_left"]].tolist() == [5, 90, -1]
    assert t.keypoints[0, IDX["crotch"]].tolist() == [-1, -1, -1]


def test_bom_crlf_and_blank_lines(tmp_path: Path) -> None:
    text = ",".join(HEADER) + "\r\n" + row("a.jpg", "skirt", SKIRT) + "\r\n\r\n"
    p = tmp_path / "bom.csv"
    p.write_bytes(b"\xef\xbb\xbf" + text.encode())
    t = read_annotations(p)
    assert t.image_ids == ["a.jpg"] and t.keypoints[0, IDX["waistband_left"], 0] == 10


def test_header_is_checked(tmp_path: Path) -> None:
    names = list(HEADER)
    names[2], names[3] = names[3], names[2]  # neckline_left <-> neckline_right
    p = write_csv(tmp_path / "h.csv", [row("a.jpg", "skirt", SKIRT)], ",".join(names))
    with pytest.raises(FashionAICSVError, match=r"h\.csv, line 1.*column 3 is 'neckline_right'"):
        read_annotations(p)
    with pytest.raises(FashionAICSVError, match="empty"):
        read_annotations(write_csv(tmp_path / "e.csv", [], ""))


@pytest.mark.parametrize("cell, column, what", [
    (("shoulder_left", "12_x_1"), "shoulder_left", "x_y_v"),
    (("cuff_left_in", "1_2_2"), "cuff_left_in", "visibility"),
    (("crotch", "1_2"), "crotch", "x_y_v"),
    (("center_front", "nan_2_1"), "center_front", "finite"),
])
def test_malformed_cell_names_line_and_column(tmp_path: Path, cell, column, what) -> None:
    bad = dict(BLOUSE, **{cell[0]: cell[1]})
    p = write_csv(tmp_path / "bad.csv",
                  [row("a.jpg", "blouse", BLOUSE), row("b.jpg", "blouse", bad)])
    with pytest.raises(FashionAICSVError, match=rf"bad\.csv, line 3, column '{column}'.*{what}"):
        read_annotations(p)


def test_bad_category_and_column_count(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "c.csv", [row("a.jpg", "jumpsuit", {})])
    with pytest.raises(FashionAICSVError, match="line 2, column 'image_category'.*jumpsuit"):
        read_annotations(p)
    p = write_csv(tmp_path / "n.csv", [row("a.jpg", "skirt", {}) + ",1_1_1"])
    with pytest.raises(FashionAICSVError, match="line 2.*27 columns"):
        read_annotations(p)


def test_lenient_mode_skips_and_counts(tmp_path: Path) -> None:
    lines = [row("a.jpg", "blouse", BLOUSE), row("b.jpg", "blouse", {"crotch": "1_1_7"}),
             row("c.jpg", "hat", {}), row("d.jpg", "skirt", SKIRT)]
    t = read_annotations(write_csv(tmp_path / "l.csv", lines), strict=False)
    assert t.image_ids == ["a.jpg", "d.jpg"]
    assert len(t.skipped) == 2 and "line 3" in t.skipped[0] + t.skipped[1]
    assert t.keypoints[1, IDX["waistband_left"]].tolist() == [10, 20, 1]


def test_read_test_list(tmp_path: Path, ann: Path) -> None:
    p = tmp_path / "test.csv"
    p.write_text("image_id,image_category\nImages/skirt/x.jpg,skirt\nImages/dress/y.jpg,dress\n")
    t = read_test_list(p)
    assert t.image_ids == ["Images/skirt/x.jpg", "Images/dress/y.jpg"] and t.keypoints is None
    assert t.category_ids.tolist() == [4, 5]
    assert read_test_list(ann).category_ids.tolist() == [1, 4]  # answer files work as lists


def test_write_submission_round_trip_and_order(tmp_path: Path) -> None:
    ids = ["b.jpg", "a.jpg"]
    kps = np.full((2, 24, 3), 7.0)
    kps[0, IDX["waistband_left"], :2] = (10.6, -3.2)  # rounds to 11, clips to 0
    out = tmp_path / "sub" / "submission.csv"
    write_submission(out, ids, [4, 1], kps, order=["a.jpg", "b.jpg"])
    lines = out.read_text().splitlines()
    assert lines[0] == ",".join(HEADER)
    assert lines[2].split(",")[2 + IDX["waistband_left"]] == "11_0_1"
    assert lines[2].split(",")[2 + IDX["neckline_left"]] == ABSENT_CELL
    back = read_annotations(out)
    assert back.image_ids == ["a.jpg", "b.jpg"] and back.category_ids.tolist() == [1, 4]
    mask = get_scheme("fashionai").category_mask(1)
    assert (back.keypoints[0, mask, 2] == 1).all() and (back.keypoints[0, ~mask] == -1).all()
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind


def test_write_submission_local_layout_and_errors(tmp_path: Path) -> None:
    skirt = get_scheme("fashionai-skirt")
    local = np.array([[[1, 2], [3, 4], [5, 6], [7, 8]]], dtype=float)
    write_submission(tmp_path / "s.csv", ["x.jpg"], [4], local, scheme=skirt)
    t = read_annotations(tmp_path / "s.csv")
    assert t.keypoints[0, IDX["hemline_right"]].tolist() == [7, 8, 1]
    nan = np.full((1, 24, 2), 5.0)
    nan[0, IDX["waistband_right"]] = np.nan
    with pytest.raises(ValueError, match="x.jpg.*waistband_right"):
        write_submission(tmp_path / "n.csv", ["x.jpg"], [4], nan)
    nan_elsewhere = np.full((1, 24, 2), np.nan)  # NaN outside the type's keypoints is not written
    nan_elsewhere[0, list(get_scheme("fashionai").category(4).slots)] = 1.0
    write_submission(tmp_path / "e.csv", ["x.jpg"], [4], nan_elsewhere)
    assert read_annotations(tmp_path / "e.csv").keypoints[0, IDX["crotch"]].tolist() == [-1, -1, -1]
    with pytest.raises(FashionAICSVError, match="1 missing"):
        write_submission(tmp_path / "o.csv", ["x.jpg"], [4], nan_elsewhere, order=["y.jpg"])


def test_records_box_mode(ann: Path) -> None:
    t = read_annotations(ann)
    recs = rows_to_records(t, get_scheme("fashionai"), margin=0.1, image_root="/data")
    skirt = recs[1]
    assert skirt["image"] == "/data/Images/skirt/b.jpg" and skirt["category_id"] == 4
    # labelled (v >= 0): (10, 20) and (30, 60); hemline_left is absent. extent 20 x 40, pad 4.
    np.testing.assert_allclose(skirt["box"], [6, 16, 28, 48])
    k = skirt["keypoints"]
    assert k.shape == (24, 3)
    assert k[IDX["waistband_right"]].tolist() == [30, 60, 1]  # occluded -> labelled
    assert k[IDX["hemline_left"]].tolist() == [0, 0, 0]  # absent -> unlabelled, zeroed
    assert skirt["visibility"][[IDX["waistband_left"], IDX["waistband_right"],
                                IDX["hemline_left"], IDX["crotch"]]].tolist() == [1, 0, -1, -1]


def test_records_subset_scheme_category_filter_and_clip(ann: Path) -> None:
    t = read_annotations(ann)
    recs = rows_to_records(t, get_scheme("fashionai-skirt"), image_sizes={"Images/skirt/b.jpg":
                                                                            (25, 100)})
    assert len(recs) == 1 and recs[0]["keypoints"].shape == (4, 3)
    assert recs[0]["keypoints"][:, 2].tolist() == [1, 1, 0, 0]
    np.testing.assert_allclose(recs[0]["box"], [6, 16, 19, 48])  # x1 = 34 clipped to width 25
    assert rows_to_records(t, get_scheme("fashionai"), categories=[1])[0]["category_id"] == 1


def test_records_image_mode_reads_headers(tmp_path: Path) -> None:
    img_root = tmp_path / "imgs"
    (img_root / "Images").mkdir(parents=True)
    cv2.imwrite(str(img_root / "Images/a.jpg"), np.zeros((37, 53, 3), np.uint8))
    cv2.imwrite(str(img_root / "Images/b.png"), np.zeros((20, 11), np.uint8))
    assert read_image_size(img_root / "Images/a.jpg") == (53, 37)
    assert read_image_size(img_root / "Images/b.png") == (11, 20)
    p = tmp_path / "test.csv"
    p.write_text("image_id,image_category\nImages/a.jpg,dress\nImages/b.png,skirt\n")
    recs = rows_to_records(read_test_list(p), get_scheme("fashionai"), "image", img_root)
    assert [r["box"].tolist() for r in recs] == [[0, 0, 53, 37], [0, 0, 11, 20]]
    assert all(r["keypoints"][:, 2].sum() == 0 for r in recs)
    with pytest.raises(FashionAICSVError, match="no keypoints"):
        rows_to_records(read_test_list(p), get_scheme("fashionai"), "box")


def test_records_degenerate_box(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "d.csv", [row("one.jpg", "skirt", {"waistband_left": "3_4_1"}),
                                        row("ok.jpg", "skirt", SKIRT)])
    t = read_annotations(p)
    with pytest.raises(FashionAICSVError, match="one.jpg"):
        rows_to_records(t, get_scheme("fashionai"))
    assert [r["image_id"] for r in rows_to_records(t, get_scheme("fashionai"), skip_bad=True)] \
        == ["ok.jpg"]


def _results(tmp_path: Path) -> tuple[Path, Path, Path]:
    test = tmp_path / "test.csv"
    test.write_text("image_id,image_category\nb.jpg,skirt\na.jpg,blouse\nc.jpg,skirt\n")
    full = {n: "5_6_1" for n in fai.KEYPOINTS}
    blouse = write_csv(tmp_path / "blouse.csv", [row("a.jpg", "blouse", full)])
    skirt_cells = {n: "1_2_1" for n in fai.CATEGORIES[3][2]}
    skirt = write_csv(tmp_path / "skirt.csv", [row("c.jpg", "skirt", full),
                                               row("b.jpg", "skirt", skirt_cells)])
    return test, blouse, skirt


def test_merge_results_order_and_errors(tmp_path: Path) -> None:
    test, blouse, skirt = _results(tmp_path)
    t = read_test_list(test)
    merged = merge_results(t, [read_annotations(blouse), read_annotations(skirt)])
    assert merged.image_ids == ["b.jpg", "a.jpg", "c.jpg"]
    assert merged.keypoints[0, IDX["waistband_left"]].tolist() == [1, 2, 1]
    with pytest.raises(FashionAICSVError, match="twice.*skirt.csv.*skirt.csv"):
        merge_results(t, [read_annotations(skirt), read_annotations(skirt)])
    with pytest.raises(FashionAICSVError, match="1 missing"):
        merge_results(t, [read_annotations(skirt)])
    other = write_csv(tmp_path / "x.csv", [row("z.jpg", "skirt", SKIRT)])
    with pytest.raises(FashionAICSVError, match="1 not requested"):
        merge_results(t, [read_annotations(p) for p in (blouse, skirt, other)])
    dress = {n: "1_1_1" for n in fai.KEYPOINTS}
    wrong = write_csv(tmp_path / "w.csv", [row("a.jpg", "dress", dress)])
    with pytest.raises(FashionAICSVError, match="'dress' in the results"):
        merge_results(t, [read_annotations(wrong), read_annotations(skirt)])
    partial = write_csv(tmp_path / "p.csv", [row("a.jpg", "blouse", BLOUSE)])
    with pytest.raises(FashionAICSVError, match="neckline_right.*missing"):
        merge_results(t, [read_annotations(partial), read_annotations(skirt)])


def test_merge_tool(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    test, blouse, skirt = _results(tmp_path)
    main = runpy.run_path(str(TOOL), run_name="merge_tool")["main"]
    out = tmp_path / "submission.csv"
    args = ["--test-csv", str(test), "--results", str(skirt), str(blouse), "--out", str(out)]
    assert main(args) == 0
    sub = read_annotations(out)
    assert sub.image_ids == ["b.jpg", "a.jpg", "c.jpg"] and sub.category_ids.tolist() == [4, 1, 4]
    assert sub.keypoints[0, IDX["hemline_left"]].tolist() == [1, 2, 1]
    assert sub.keypoints[0, IDX["crotch"]].tolist() == [-1, -1, -1]
    from clothpose.utils.cli import run_cli  # what `python tools/merge_fashionai.py` runs

    assert run_cli(main, ["--test-csv", str(test), "--results", str(skirt), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "missing" in err and "Traceback" not in err
