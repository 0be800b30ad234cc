"""Fault injection kit: run the tools on inputs the tests break on purpose.

Tools run in-process through ``run_cli`` (what ``python tools/x.py`` runs), so a test sees the
exit status and the exact stderr a user would see, at a fraction of a subprocess' cost.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools"
AGG_CFG = str(ROOT / "experiments/demo/tiny_agg81.yaml")
FT_CFG = str(ROOT / "experiments/demo/tiny_agg81_finetune.yaml")
# The tiny HRNet of tests/tools/test_train_test.py: 64x64 input, 2 iterations per epoch.
TINY = ["MODEL.IMAGE_SIZE", "[64, 64]", "MODEL.HEATMAP_SIZE", "[16, 16]", "MODEL.SIGMA", "1.0",
        "MODEL.EXTRA.STAGE1.NUM_BLOCKS", "[1]", "MODEL.EXTRA.STAGE1.NUM_CHANNELS", "[16]",
        "MODEL.EXTRA.STEM_INPLANES", "16", "MODEL.EXTRA.STAGE4.NUM_CHANNELS", "[16, 32, 64, 64]",
        "TRAIN.BATCH_SIZE_PER_GPU", "4", "TEST.BATCH_SIZE_PER_GPU", "8", "WORKERS", "0",
        "TRAIN.MAX_ITERS_PER_EPOCH", "2", "PRINT_FREQ", "0", "TEST.FLIP_TEST", "False"]


@dataclass
class Outcome:
    """What a user sees: exit status, stdout, stderr."""

    rc: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [ln for ln in self.err.splitlines() if ln.startswith("error: ")]

    def one_error(self) -> str:
        """The single ``error:`` line, with no traceback beside it."""
        assert "Traceback" not in self.err, self.err
        assert len(self.error_lines) == 1, self.err
        return self.error_lines[0]


def load_tool(name: str):
    """tools/<name>.py as a module (registered, so its dataclasses work)."""
    key = f"clothpose_fault_tool_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, TOOLS / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[key] = mod
        spec.loader.exec_module(mod)
    return sys.modules[key]


def _interpreter(main, argv: list[str]) -> int:
    """What ``python tool.py`` does with a ``main`` that has no error wrapper (a tree before
    ``run_cli``): an exception prints its traceback and exits 1."""
    try:
        return int(main(argv) or 0)
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
            return 1
        return int(e.code or 0)
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        return 1


def cli(name: str, *args: str) -> Outcome:
    """Run ``python tools/<name>.py args`` in-process; returns what the user would see."""
    try:
        from clothpose.utils.cli import run_cli
    except ImportError:
        run_cli = _interpreter
    mod = load_tool(name)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = run_cli(mod.main, [str(a) for a in args])
    return Outcome(rc, out.getvalue(), err.getvalue())


def torchrun(nproc: int, name: str, *args: str, timeout: int = 300) -> Outcome:
    """``torchrun --nproc_per_node nproc tools/<name>.py args`` (gloo on CPU)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                        f"--nproc_per_node={nproc}", str(TOOLS / f"{name}.py"), *map(str, args)],
                       cwd=ROOT, capture_output=True, text=True, env=env, timeout=timeout)
    return Outcome(r.returncode, r.stdout, r.stderr)


def train_opts(data, out: Path, *extra: str) -> list[str]:
    """Overrides of a tiny training run on the session's synthetic data into ``out``."""
    return ["--cfg", AGG_CFG, "OUTPUT_DIR", str(out), "LOG_DIR", str(out / "log"),
            "DATASET.ROOT", str(data.root), "SEED", "1", *TINY, *extra]


def run_dir(out: Path, name: str = "tiny_agg81") -> Path:
    return out / "deepfashion2agg81kps" / "pose_hrnet" / name


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path
