"""What every tool shares: the argument parser, its help layout, and the error wrapper.

``run_cli(main)`` is the tools' entry point. Input errors (``clothpose.errors.InputError`` and
the other known bad-input types) print ``error: <file>: <field>: <what was expected>`` and exit
2; any other exception is a bug and keeps its traceback; ``--debug`` shows the traceback always.
Under ``torchrun`` only rank 0 prints (every rank finds the same problem and exits).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import traceback
from typing import Callable, Sequence

from ..errors import ClothposeError

DEBUG_HELP = "show the Python traceback of every error (input errors print one line otherwise)"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Adds ``(default: X)`` only where it informs: not on required options, flags, empty or
    None defaults, or help texts that already say what the default is. Descriptions and
    epilogs keep their line breaks (usage examples)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (action.required or not action.option_strings or default is None
                or default is argparse.SUPPRESS or isinstance(default, bool)
                or default in ("", [], ()) or "default" in text.lower()):
            return text
        return f"{text} (default: %(default)s)"


def split_doc(doc: str | None) -> tuple[str, str]:
    """A module docstring -> (first paragraph as one line, the rest as it is)."""
    parts = (doc or "").strip().split("\n\n", 1)
    first = " ".join(parts[0].split())
    return first, (parts[1] if len(parts) > 1 else "")


def make_parser(doc: str | None, *, epilog: str | None = None) -> argparse.ArgumentParser:
    """Parser whose description is the docstring's first paragraph (whole, never cut) and whose
    epilog is the rest (usage examples), with ``--debug``."""
    description, rest = split_doc(doc)
    p = argparse.ArgumentParser(description=description,
                                epilog=rest if epilog is None else epilog,
                                formatter_class=HelpFormatter)
    p.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    return p


def default_argument_parser(doc: str | None) -> argparse.ArgumentParser:
    """``--cfg`` plus trailing ``KEY VALUE`` overrides, as HRNet's tools take them."""
    p = make_parser(doc, epilog="")
    p.epilog = ((split_doc(doc)[1] + "\n\n") if split_doc(doc)[1] else "") + \
        "Any other arguments are config overrides as KEY VALUE pairs, e.g. TRAIN.LR 1e-4."
    p.add_argument("--cfg", required=True, help="experiment YAML file")
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


# ---------------------------------------------------------------------------- errors
def _legacy_input_errors() -> tuple[type, ...]:
    """Bad-input types of modules that predate ``clothpose.errors``."""
    from ..evaluation.groundtruth import GroundTruthError
    from ..evaluation.results import ResultsError

    return (GroundTruthError, ResultsError)


def _clean(message: str) -> str:
    """Errors re-raised from DataLoader workers carry the worker's traceback: keep its last line."""
    if "Original Traceback" in message:
        last = [ln for ln in message.splitlines() if ln.strip()][-1]
        message = last.split(": ", 1)[1] if ": " in last else last
    return " ".join(message.split())


def error_lines(exc: BaseException) -> tuple[list[str], int] | None:
    """(lines to print, exit status) for an expected error; None for a bug."""
    if isinstance(exc, ClothposeError):
        if "Original Traceback" in str(exc):
            return [f"error: {_clean(str(exc))}"], exc.exit_code
        return exc.lines(), exc.exit_code
    if isinstance(exc, _legacy_input_errors()):
        return [f"error: {_clean(str(exc))}"], 2
    if isinstance(exc, FileNotFoundError):
        where = exc.filename if exc.filename else ""
        text = f"{where}: does not exist" if where else _clean(str(exc))
        return [f"error: {text}"], 2
    if isinstance(exc, subprocess.CalledProcessError):
        cmd = exc.cmd if isinstance(exc.cmd, str) else " ".join(map(str, exc.cmd))
        return [f"error: step failed with exit status {exc.returncode}: {cmd}"], \
            exc.returncode if exc.returncode > 0 else 1
    return None


def _is_main_rank() -> bool:
    return int(os.environ.get("RANK", "0") or 0) == 0


def run_cli(main: Callable[[list[str]], int | None], argv: Sequence[str] | None = None) -> int:
    """Run a tool's ``main(argv)`` and turn expected errors into one line and an exit status.

    Exit status: ``main``'s return value; 2 for input errors; 1 for other expected errors
    (e.g. a diverged training run); 130 on Ctrl-C. With ``--debug`` the traceback is printed too.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        return int(main(args) or 0)
    except KeyboardInterrupt:
        if _is_main_rank():
            print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - classified below, bugs are re-raised
        known = error_lines(e)
        if known is None:
            raise
        lines, status = known
        if debug:
            traceback.print_exc()
        if _is_main_rank():
            for line in lines:
                print(line, file=sys.stderr)
        sys.stderr.flush()
        return status
