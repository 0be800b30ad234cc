"""The argument parser shared by the tools: ``--cfg X.yaml [KEY VALUE ...]``."""
from __future__ import annotations

import argparse


def default_argument_parser(description: str) -> argparse.ArgumentParser:
    """``--cfg`` plus trailing ``KEY VALUE`` overrides, as HRNet's tools take them."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--cfg", required=True, help="experiment YAML file")
    p.epilog = "Any other arguments are config overrides as KEY VALUE pairs, e.g. TRAIN.LR 1e-4."
    # HRNet's directory flags, still accepted.
    p.add_argument("--modelDir", default="", help="overrides OUTPUT_DIR")
    p.add_argument("--logDir", default="", help="overrides LOG_DIR")
    p.add_argument("--dataDir", default="", help="overrides DATA_DIR")
    return p


def parse_with_opts(parser: argparse.ArgumentParser, argv: list[str] | None = None
                    ) -> argparse.Namespace:
    """Parse the tool's flags wherever they stand; everything else becomes ``args.opts``
    (``KEY VALUE`` overrides, validated by the config loader, which names unknown keys)."""
    args, rest = parser.parse_known_args(argv)
    args.opts = rest
    return args


def opts_from_args(args: argparse.Namespace) -> list[str]:
    """Overrides from ``args.opts`` plus HRNet's ``--modelDir/--logDir/--dataDir`` flags."""
    opts = list(args.opts)
    for flag, key in (("modelDir", "OUTPUT_DIR"), ("logDir", "LOG_DIR"), ("dataDir", "DATA_DIR")):
        if getattr(args, flag, ""):
            opts += [key, getattr(args, flag)]
    return opts
