"""Every parameter set by judgement is screened for its sensitivity and listed in docs/parameters.md.

The project's rule: a behavioural parameter is fitted or cites a source, and a value set by judgement (``source:
estimated ...`` in params.yaml) is listed in the docs with its sensitivity. These tests keep the Morris screening
spec and the docs in step with params.yaml, so a new judged parameter cannot go unscreened or unlisted.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from batch.sensitivity import read_spec

ROOT = Path(__file__).resolve().parents[1]
REGION = ROOT / "configs" / "pingyang"
SPEC = REGION / "sweeps" / "sensitivity.yaml"
DOC = ROOT / "docs" / "parameters.md"


def judged_parameters() -> dict[str, object]:
    """``section.name`` -> value of every params.yaml entry whose source says it was estimated."""
    raw = yaml.safe_load((REGION / "params.yaml").read_text(encoding="utf-8"))
    return {f"{section}.{name}": entry["value"]
            for section, entries in raw.items() if isinstance(entries, dict)
            for name, entry in entries.items()
            if isinstance(entry, dict) and str(entry.get("source", "")).lower().startswith("estimated")}


def test_every_judged_one_number_parameter_is_in_the_screening():
    spec = read_spec(SPEC)
    one_number = {n for n, v in judged_parameters().items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert len(one_number) > 50  # the file was read: Pingyang has 73
    missing = sorted(one_number - set(spec.parameters))
    assert not missing, f"judged parameters missing from {SPEC.name}: {missing}"
    for name in one_number:  # each range holds the value the region uses, so the screening is around it
        lo, hi = spec.parameters[name]
        assert lo <= judged_parameters()[name] <= hi, name


def test_every_judged_parameter_is_listed_in_the_docs():
    listed = set(re.findall(r"`([a-z_]+\.[a-z_0-9]+)`", DOC.read_text(encoding="utf-8")))
    missing = sorted(set(judged_parameters()) - listed)
    assert not missing, f"judged parameters not in docs/parameters.md: {missing}"
