"""Logging setup for the tools: the ``clothpose`` logger to console and a file, never the root."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at emit time (pytest and notebooks swap it; a
    handler holding the old stream would write into a closed file)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:
        pass


def setup_logger(output_dir: str | os.PathLike | None = None, name: str = "clothpose",
                 rank: int = 0, filename: str = "log.txt") -> logging.Logger:
    """Attach console (+ file in ``output_dir``) handlers; ranks > 0 only log warnings."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    logger.propagate = False
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    fmt = logging.Formatter(FORMAT, datefmt="%H:%M:%S")
    console = _StdoutHandler()
    console.setFormatter(fmt)
    logger.addHandler(console)
    if output_dir is not None and rank == 0:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(Path(output_dir) / filename)
        fh.setFormatter(fmt)
        logger.addHandler(fh)
    return logger
