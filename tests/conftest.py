"""Shared fixtures: the project root on sys.path, a small synthetic dataset per session."""
import logging
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
logging.getLogger("simplepose").setLevel(logging.INFO)


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """Paths of a small built-in dataset: 40 train and 12 val images."""
    from simplepose.data.synthetic import generate
    return generate(tmp_path_factory.mktemp("synthetic"), num_train_images=40, num_val_images=12, seed=5)
