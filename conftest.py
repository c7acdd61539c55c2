"""Shared by the tests under tests/ and the docstring examples under engine/: every test
starts from the same random state, and GPU-marked tests skip without CuPy and a GPU."""

import numpy as np
import pytest

import engine


def _cuda_ok() -> bool:
    return engine.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    if _cuda_ok():
        return
    skip = pytest.mark.skip(reason="needs CuPy and an NVIDIA GPU (none found)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    engine.manual_seed(0)
    np.random.seed(0)
    yield

