"""Synthetic FashionAI -> train a tiny CPN (a few iterations) -> test -> submission CSV + NE,
per-type runs merged into one submission, and two-model ensembles, all through the tools."""
from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from clothpose.data.fashionai_csv import HEADER, read_annotations, read_test_list
from clothpose.evaluation.normalized_error import normalized_error_from_csv
from clothpose.keypoints import get_scheme

ROOT = Path(__file__).resolve().parents[2]
CFG = str(ROOT / "experiments" / "fashionai" / "tiny_cpn-r18_128x128.yaml")
TINY = ["MODEL.IMAGE_SIZE", "[64, 64]", "MODEL.HEATMAP_SIZE", "[16, 16]", "MODEL.SIGMA", "1.0",
        "MODEL.EXTRA.FPN_CHANNELS", "32", "TRAIN.BATCH_SIZE_PER_GPU", "4",
        "TRAIN.MAX_ITERS_PER_EPOCH", "2", "TRAIN.END_EPOCH", "1", "WORKERS", "0",
        "TEST.BATCH_SIZE_PER_GPU", "8", "AUTO_RESUME", "False"]


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f"tool_{name}", ROOT / "tools" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses in the tool look their module up here
    spec.loader.exec_module(mod)
    return mod


TRAIN, TEST = load_tool("train"), load_tool("test")
MERGE, ENSEMBLE = load_tool("merge_fashionai"), load_tool("ensemble_fashionai")


@pytest.fixture(scope="module")
def run(fashionai_release, tmp_path_factory):
    """Train the all-type model and a skirt model (one config + override), test the first."""
    out = tmp_path_factory.mktemp("fashionai_runs")
    opts = ["DATASET.ROOT", str(fashionai_release), "OUTPUT_DIR", str(out),
            "LOG_DIR", str(out / "log"), *TINY]
    assert TRAIN.main(["--cfg", CFG, *opts]) == 0
    assert TRAIN.main(["--cfg", CFG, *opts, "DATASET.CATEGORIES", "[4]",
                       "TRAIN.VAL_FREQ", "0"]) == 0
    folder = out / "fashionai" / "cpn" / "tiny_cpn-r18_128x128"
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        assert TEST.main(["--cfg", CFG, "--examples", "1", *opts,
                          "TEST.MODEL_FILE", str(folder / "final_state.pth")]) == 0
    return {"root": fashionai_release, "out": out, "opts": opts, "folder": folder,
            "weights": str(folder / "final_state.pth"), "test_output": text.getvalue(),
            "csv": folder / "results" / "fashionai_test_results_0.csv",
            "skirt_weights": str(folder.parent / "tiny_cpn-r18_128x128-category4" /
                                 "final_state.pth")}


def printed_ne(text: str) -> float:
    return float(re.findall(r"^NE=([\d.]+)$", text, re.M)[-1])


def test_training_validates_with_ne(run):
    stats = json.loads((run["folder"] / "results" / "stats_test_epoch0.json").read_text())
    assert stats["AP"] == -stats["NE"] and stats["images"] == 5 and stats["NE"] > 0
    assert set(stats["per_type"]) == {"blouse", "outwear", "trousers", "skirt", "dress"}
    assert (run["folder"] / "results" / "fashionai_test_results_epoch0.csv").is_file()
    assert (run["folder"] / "model_best.pth").is_file()


def test_test_tool_writes_submission_and_ne_table(run):
    text = run["test_output"]
    ne = printed_ne(text)
    assert re.search(r"^\| \*\*all\*\* \| \*\*[\d.]+\*\* \|", text, re.M)
    rows = list(csv.reader(open(run["csv"])))
    assert tuple(rows[0]) == HEADER
    test = read_test_list(run["root"] / "test.csv")
    assert [r[0] for r in rows[1:]] == test.image_ids                 # the test CSV's order
    sub = read_annotations(run["csv"])
    own = sub.keypoints[..., 2] == 1
    assert all(c.endswith("_1") or c == "-1_-1_-1" for r in rows[1:] for c in r[2:])
    full = get_scheme("fashionai")
    np.testing.assert_array_equal(own, [full.category_mask(int(c)) for c in sub.category_ids])
    answer = run["root"] / "Annotations" / "test_answer.csv"
    assert normalized_error_from_csv(answer, run["csv"]).ne == pytest.approx(ne, abs=1e-4)
    assert (run["folder"] / "results" / "fashionai_test_results_0_examples.png").is_file()


def test_per_type_runs_merge_into_one_submission(run, capsys):
    """One config + DATASET.CATEGORIES override per type; the five CSVs merged in test order."""
    assert Path(run["skirt_weights"]).is_file()                 # per-type training
    parts = []
    for k in range(1, 6):
        name = f"type{k}.csv"
        assert TEST.main(["--cfg", CFG, "--results-name", name, "--examples", "0",
                          *run["opts"], "TEST.MODEL_FILE", run["weights"],
                          "DATASET.CATEGORIES", f"[{k}]"]) == 0
        parts.append(run["folder"].parent / f"tiny_cpn-r18_128x128-category{k}" / "results" / name)
        assert len(read_annotations(parts[-1])) == 1
    capsys.readouterr()
    merged = run["out"] / "merged.csv"
    assert MERGE.main(["--test-csv", str(run["root"] / "test.csv"),
                       "--results", *map(str, parts[::-1]), "--out", str(merged)]) == 0
    # same model, same decoding: the merged per-type submission equals the all-type one
    assert merged.read_text() == run["csv"].read_text()


def test_per_type_scheme_run(run, capsys):
    """The reference's per-type model: DATASET.SCHEME fashionai-skirt (4 channels) + filter."""
    opts = [*run["opts"], "DATASET.SCHEME", "fashionai-skirt", "DATASET.CATEGORIES", "[4]",
            "CFG_NAME", "tiny_skirt"]
    assert TRAIN.main(["--cfg", CFG, *opts]) == 0
    folder = run["folder"].parent / "tiny_skirt-category4"
    stats = json.loads((folder / "results" / "stats_test_epoch0.json").read_text())
    assert list(stats["per_type"]) == ["skirt"] and stats["images"] == 1
    assert TEST.main(["--cfg", CFG, "--examples", "0", "--results-name", "skirt4.csv", *opts,
                      "TEST.MODEL_FILE", str(folder / "final_state.pth")]) == 0
    assert printed_ne(capsys.readouterr().out) > 0
    sub = read_annotations(folder / "results" / "skirt4.csv")
    assert sub.category_names == ["skirt"]
    np.testing.assert_array_equal(np.flatnonzero(sub.keypoints[0, :, 2] == 1), [15, 16, 17, 18])


def test_ensembles(run, capsys):
    weights = run["weights"]
    out = run["out"] / "ens.csv"
    assert ENSEMBLE.main(["--cfg", CFG, "--member", CFG, weights, "--member", CFG, weights,
                          "--out", str(out), *run["opts"]]) == 0
    ne = printed_ne(capsys.readouterr().out)
    single = run["out"] / "single.csv"                  # a model averaged with itself = itself
    assert ENSEMBLE.main(["--cfg", CFG, "--member", CFG, weights, "--out", str(single),
                          *run["opts"]]) == 0
    assert printed_ne(capsys.readouterr().out) == pytest.approx(ne, abs=1e-4)
    assert out.read_text() == single.read_text()
    skirt_w = run["skirt_weights"]
    mixed = run["out"] / "mixed.csv"
    assert ENSEMBLE.main(["--cfg", CFG, "--member", CFG, weights, "--member", CFG, skirt_w,
                          "--out", str(mixed), *run["opts"]]) == 0
    capsys.readouterr()
    # result averaging: the mean of a file with itself is itself; of two files the midpoint
    avg = run["out"] / "avg.csv"
    answer = str(run["root"] / "Annotations" / "test_answer.csv")
    assert ENSEMBLE.main(["--average", str(out), str(mixed), "--out", str(avg),
                          "--answers", answer]) == 0
    assert "NE=" in capsys.readouterr().out
    a, b, m = (read_annotations(p).keypoints for p in (out, mixed, avg))
    own = a[..., 2] == 1
    assert np.abs(m[own][:, :2] - (a[own][:, :2] + b[own][:, :2]) / 2).max() <= 0.5 + 1e-9
    from clothpose.utils.cli import run_cli  # what `python tools/ensemble_fashionai.py` runs

    assert run_cli(ENSEMBLE.main, ["--out", str(avg)]) == 2
    assert capsys.readouterr().err.startswith("error: --average/--member: give either")
