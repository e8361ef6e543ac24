"""The examples in the docstrings of the model, geography, workflow and page modules run and give what they say."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(f"{p.parent.name}.{p.stem}" for folder in ("sim", "geo", "workflow", "batch", "cli", "viz") for p in (ROOT / folder).glob("*.py")
                 if p.stem != "__init__")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (python -m doctest {name.replace('.', '/')}.py)"
