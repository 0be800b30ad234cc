"""One line per input error from every tool, config keys named, help texts that read right."""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import stat
from types import SimpleNamespace

import pytest
import torch
from faultkit import AGG_CFG, ROOT, TINY, TOOLS, cli, load_tool, train_opts, write_json

from clothpose.config import load_config
from clothpose.models import build_model


@pytest.mark.parametrize("key,value", [
    ("MODEL.SIGMA", "0"), ("MODEL.SIGMA", "-1.5"),
    ("MODEL.HEATMAP_SIZE", "[64, 64]"),                # = the input size: stride 1
    ("TRAIN.BATCH_SIZE_PER_GPU", "0"), ("TEST.BATCH_SIZE_PER_GPU", "0"),
    ("WORKERS", "-1"), ("TRAIN.LR", "0"), ("TRAIN.LR", "-0.001"),
])
def test_bad_config_values_are_refused_naming_the_key(synthetic_df2, tmp_path, key, value):
    r = cli("train", *train_opts(synthetic_df2, tmp_path, "TRAIN.END_EPOCH", "1", key, value))
    assert r.rc == 2
    line = r.one_error()
    assert line.startswith(f"error: {AGG_CFG}: {key}: expected") or \
        line.startswith(f"error: {AGG_CFG}: {key}: [")  # HEATMAP_SIZE states its expectation
    assert not tmp_path.joinpath("deepfashion2agg81kps").exists()


def test_heatmap_size_message_says_what_fits():
    from clothpose.config import ConfigError

    with pytest.raises(ConfigError, match=r"MODEL.HEATMAP_SIZE: \[64, 64\] .* stride 4: "
                                          r"expected MODEL.IMAGE_SIZE / 4 = \[16, 16\]"):
        load_config(AGG_CFG, [*TINY, "MODEL.HEATMAP_SIZE", "[64, 64]"])


def entry(image_id: int) -> dict:
    """A valid DeepFashion2 result entry (one short-sleeved shirt) with its box."""
    return {"image_id": image_id, "category_id": 1, "keypoints": [1.0] * 882, "score": 0.5,
            "bbox": [0, 0, 10, 10]}


def test_input_errors_of_every_kind_are_one_line_and_exit_2(synthetic_df2, tmp_path):
    gt = synthetic_df2.root / "annotations" / "validation_coco.json"
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    cases = {
        # checkpoint
        "test": ["--cfg", AGG_CFG, *TINY, "DATASET.ROOT", str(synthetic_df2.root),
                 "OUTPUT_DIR", str(tmp_path / "o"), "TEST.MODEL_FILE", str(garbage)],
        # results file
        "evaluate": ["--gt", str(gt), "--results", str(write_json(tmp_path / "r.json", {"a": 1}))],
        # ensemble mismatch: the two files hold different instances
        "ensemble": [str(write_json(tmp_path / "e1.json", [entry(1)])),
                     str(write_json(tmp_path / "e2.json", [entry(2)])),
                     "--out", str(tmp_path / "e.json")],
        # annotation file
        "check_flip_pairs": [str(write_json(tmp_path / "notcoco.json", [1, 2]))],
        # raw annotations
        "prepare_deepfashion2": ["--raw", str(tmp_path / "nothing"), "--out", str(tmp_path / "p")],
        # config
        "export_onnx": ["--cfg", AGG_CFG, "--out", str(tmp_path / "m.onnx"), "TRAIN.NOPE", "1"],
    }
    expect = {"test": str(garbage), "evaluate": "r.json",
              "ensemble": "do not describe the same instances", "check_flip_pairs": "notcoco",
              "prepare_deepfashion2": "--raw", "export_onnx": "TRAIN.NOPE"}
    for tool, args in cases.items():
        r = cli(tool, *args)
        assert r.rc == 2, (tool, r.err)
        assert expect[tool] in r.one_error(), (tool, r.err)


def test_debug_shows_the_traceback_and_bugs_keep_theirs(monkeypatch, tmp_path):
    r = cli("export_onnx", "--debug", "--cfg", AGG_CFG, "--out", str(tmp_path / "m.onnx"),
            "TRAIN.NOPE", "1")
    assert r.rc == 2 and "Traceback (most recent call last)" in r.err
    assert r.error_lines and "TRAIN.NOPE" in r.error_lines[-1]
    tool = load_tool("export_onnx")

    def bug(*a, **k):
        raise ZeroDivisionError("a bug, not an input error")

    monkeypatch.setattr(tool, "build_model", bug)
    with pytest.raises(ZeroDivisionError):  # not turned into an exit status: a traceback
        cli("export_onnx", "--cfg", AGG_CFG, "--out", str(tmp_path / "m.onnx"))


def parser_of(tool: str) -> argparse.ArgumentParser:
    """The parser a tool builds, caught when its main() parses ``--help``."""
    seen = {}
    real = argparse.ArgumentParser.parse_known_args

    def spy(self, args=None, namespace=None):
        seen.setdefault("parser", self)
        return real(self, args, namespace)

    mod = load_tool(tool)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(argparse.ArgumentParser, "parse_known_args", spy)
        with contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit):
            mod.main(["--help"])
    return seen["parser"]


def help_problems(tool: str) -> list[str]:
    """What is wrong with a tool's --help: a cut-off description, options without help,
    ``(default: None)``, defaults stated twice or on required options."""
    p = parser_of(tool)
    problems = []
    doc = " ".join(load_tool(tool).__doc__.split("\n\n")[0].split())
    if not p.description or p.description != doc:  # the whole first paragraph, never cut
        problems.append(f"description {p.description!r} is not the docstring's first paragraph")
    formatter = p._get_formatter()
    for action in p._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        if not action.help:
            problems.append(f"{name}: no help")
            continue
        text = formatter._get_help_string(action) % {"default": action.default}
        if "(default: None)" in text:
            problems.append(f"{name}: {text!r} shows (default: None)")
        if text.lower().count("default") > 1:
            problems.append(f"{name}: {text!r} states the default twice")
        if action.required and "default" in text.lower():
            problems.append(f"{name}: required, yet {text!r} speaks of a default")
    return [f"{tool}: {x}" for x in problems]


def test_help_texts_of_every_tool():
    tools = sorted(p.stem for p in TOOLS.glob("*.py"))
    assert len(tools) >= 16
    problems = [x for tool in tools for x in help_problems(tool)]
    assert not problems, "\n".join(problems)


def test_readme_and_requirements_stay_inside_the_repository():
    readme = (ROOT / "README.md").read_text()
    assert "/work/" not in readme
    for link in re.findall(r"\]\(([^)]+)\)", readme):
        if not link.startswith(("http://", "https://", "#")):
            assert (ROOT / link.split("#")[0]).exists(), link
    req = (ROOT / "requirements.txt").read_text()
    assert "development machine" not in req


def test_onnx_file_gets_the_usual_file_mode(tmp_path):
    pytest.importorskip("onnx")
    cfg = load_config(AGG_CFG, TINY)
    weights = tmp_path / "w.pth"
    torch.save(build_model(cfg, is_train=False).state_dict(), weights)
    r = cli("export_onnx", "--cfg", AGG_CFG, "--weights", weights, "--out", tmp_path / "m.onnx",
            "--no-check", *TINY)
    assert r.rc == 0, r.err
    plain = tmp_path / "plain.txt"
    plain.write_text("")  # what open() gives under this umask (0644 under umask 022)
    mode = stat.S_IMODE(os.stat(tmp_path / "m.onnx").st_mode)
    assert mode == stat.S_IMODE(os.stat(plain).st_mode) and mode & 0o044


def test_drop_last_skipping_much_of_a_small_set_is_warned(clothpose_log):
    train = load_tool("train")
    cfg = load_config(AGG_CFG, [*TINY, "TRAIN.BATCH_SIZE_PER_GPU", "4"])
    info = SimpleNamespace(distributed=False, world_size=1, device=torch.device("cpu"))
    loader = train.build_train_loader(cfg, list(range(7)), info)
    assert loader.drop_last and len(loader) == 1
    assert "3 of the 7 training samples (43%) are skipped every epoch" in clothpose_log.text
    clothpose_log.clear()
    train.build_train_loader(cfg, list(range(41)), info)  # 1 of 41: not worth a warning
    assert "skipped" not in clothpose_log.text
