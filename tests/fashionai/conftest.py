"""A tiny synthetic FashionAI release shared by the FashionAI tests (generated once, < 1 s)."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def fashionai_release(tmp_path_factory) -> Path:
    """10 train / 5 val / 5 test images of height 96 (widths 96 or 72), every type twice."""
    from clothpose.data.synthetic_fashionai import make_synthetic_fashionai

    root = tmp_path_factory.mktemp("fashionai_release")
    make_synthetic_fashionai(root, train=10, val=5, test=5, seed=3, size=96)
    return root


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One intra-op thread: on a shared 2-core machine, 2 spinning OpenMP threads competing with
    other processes make tiny convolutions tens of times slower. Restored after each module."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
