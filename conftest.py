import os

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


os.environ.setdefault("HYPOTHESIS_PROFILE", "ci")
