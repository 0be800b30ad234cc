"""Fixtures of the fault-injection suite (helpers: ``faultkit``)."""
from __future__ import annotations

import logging

import pytest
from faultkit import cli, run_dir, train_opts


@pytest.fixture
def clothpose_log(caplog):
    """``caplog`` that also sees the ``clothpose`` logger (the tools make it not propagate)."""
    log = logging.getLogger("clothpose")
    old_level = log.level
    log.addHandler(caplog.handler)
    log.setLevel(logging.INFO)
    yield caplog
    log.removeHandler(caplog.handler)
    log.setLevel(old_level)


@pytest.fixture(scope="session")
def trained_run(synthetic_df2, tmp_path_factory):
    """One finished tiny run (2 epochs, validated), kept read-only: copy it to change it."""
    out = tmp_path_factory.mktemp("faults_trained")
    r = cli("train", *train_opts(synthetic_df2, out, "TRAIN.END_EPOCH", "2",
                                 "AUTO_RESUME", "False"))
    assert r.rc == 0, r.err
    return run_dir(out)
