import importlib

import pytest


@pytest.mark.parametrize("package", ["engine", "app"])
def test_packages_import(package):
    assert importlib.import_module(package).__doc__
