from pathlib import Path

import pytest

from toy import write_toy_region

ROOT = Path(__file__).resolve().parents[1]

PINGYANG = ROOT / "configs" / "pingyang"


@pytest.fixture(scope="session")
def toy_template(tmp_path_factory):
    return write_toy_region(tmp_path_factory.mktemp("toy_template"))


@pytest.fixture
def toy(tmp_path, toy_template):
    """A fresh, writable copy of the toy region for tests that break it."""
    import shutil

    return Path(shutil.copytree(toy_template, tmp_path / "toy"))


@pytest.fixture(scope="session")
def pingyang():
    from geo.region import load_region

    return load_region(PINGYANG)
