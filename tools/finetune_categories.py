"""Finetune one model per category from the aggregation model (stage 2 of the winning recipe).

    python tools/finetune_categories.py --cfg experiments/deepfashion2/hrnet-w48_512x384_agg81_finetune.yaml \
        --init output/.../model_best.pth --categories 1-13 [--nproc 4] [KEY VALUE ...]

Categories already finished are skipped, an interrupted one resumes (AUTO_RESUME), and a summary
table (category, epochs, best AP, checkpoint) is written next to the runs.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from clothpose.config import load_config
from clothpose.errors import InputError
from clothpose.keypoints import get_scheme
from clothpose.utils.cli import make_parser, parse_with_opts, run_cli
from clothpose.utils.logging import setup_logger
from clothpose.workflow.categories import (category_output, finished_run, load_summary,
                                           parse_categories, python_command, run,
                                           summarize_run, write_summary_table)

logger = logging.getLogger("clothpose.finetune_categories")


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(__doc__)
    p.epilog += "\nAny other arguments are KEY VALUE config overrides for every run."
    p.add_argument("--cfg", required=True, help="finetune experiment file (one for all categories)")
    p.add_argument("--init", required=True, help="aggregation checkpoint to start every category from")
    p.add_argument("--categories", default="1-13", help="e.g. 1-13, 3,7 or 1-3,8")
    p.add_argument("--nproc", type=int, default=1, help="processes per category run (torchrun)")
    return p


def main(argv=None) -> int:
    args = parse_with_opts(build_parser(), argv)
    setup_logger()
    if not Path(args.init).exists():
        raise InputError("does not exist; expected the aggregation model's weights",
                         file=args.init, field="--init")
    cfg = load_config(args.cfg, args.opts)
    scheme = get_scheme(cfg.DATASET.SCHEME)
    try:
        cats = parse_categories(args.categories, scheme.category_ids)
    except ValueError as e:
        raise InputError(str(e)) from None
    runs = []
    for k in cats:
        name = scheme.category(k).name
        if finished_run(cfg, k):
            logger.info("category %d (%s): finished, skipping", k, name)
            runs.append(load_summary(cfg, k))
            continue
        resumed = (category_output(cfg, k) / "checkpoint.pth").exists()
        logger.info("category %d (%s): %s", k, name, "resuming" if resumed else "starting")
        run(python_command("train.py", ["--cfg", args.cfg, *args.opts,
                                        "DATASET.CATEGORIES", f"[{k}]", "TRAIN.INIT_FROM", args.init,
                                        "AUTO_RESUME", "True"], args.nproc))
        runs.append(summarize_run(cfg, k, name, "resumed" if resumed else "trained"))
    out = category_output(cfg, cats[0]).parent
    table = write_summary_table(runs, out / "finetune_summary.md", out / "finetune_summary.json")
    print(table)
    print(f"summary: {out / 'finetune_summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
