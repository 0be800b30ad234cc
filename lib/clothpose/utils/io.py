"""Atomic writes and safe checkpoint loading: a killed run never leaves a half-written file."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np


_UMASK = os.umask(0)
os.umask(_UMASK)


def give_usual_mode(path: str | os.PathLike) -> None:
    """The mode a plain ``open(path, "w")`` would give (0644 under umask 022): ``mkstemp``
    creates 0600, which would hide results from the rest of a team."""
    os.chmod(path, 0o666 & ~_UMASK)


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str = "w") -> None:
    """Write through ``write(fileobj)`` into a temporary file, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        give_usual_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = None) -> None:
    """JSON dump (numpy scalars/arrays allowed) written atomically."""
    atomic_write(path, lambda f: json.dump(obj, f, indent=indent, default=_json_default))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` written atomically."""
    import torch

    atomic_write(path, lambda f: torch.save(obj, f), mode="wb")


def load_checkpoint(path: str | os.PathLike, map_location: str = "cpu") -> Any:
    """Load a checkpoint with ``weights_only=True``: tensors and plain containers only, no code."""
    import torch

    from ..errors import CheckpointError

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # pickle.UnpicklingError and friends: refuse, with the reason
        reason = " ".join(str(e).split())[:300]
        raise CheckpointError(f"refused to load checkpoint (weights_only=True): {reason}",
                              file=path) from e
