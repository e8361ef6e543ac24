"""Sweep files: which runs a batch holds (scenarios x parameter values x seeds), each with a stable id.

A run's id is a hash of everything that decides its result: the region's files (their content, not the folder's
path, so an absolute and a relative path, or a copy on another machine, give the same ids), the scenario files'
text, parameter overrides, seed, scale and years. Re-running a sweep finds the same ids, so finished runs are
skipped; editing any region file, a scenario or params.yaml gives new ids.

Example
-------
>>> spec = SweepSpec.model_validate({"region": "configs/<region>", "scenarios": ["baseline"], "seeds": 2})
>>> [s for s in spec.seed_list()]
[1, 2]
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from geo.region import read_model
from workflow.io import check_parameter_name, check_values, folder_fingerprint


def _first_repeat(values: list):
    """The first value that comes again in ``values`` (None if none does).

    >>> _first_repeat([3, 1, 2, 1])
    1
    """
    seen = set()
    for v in values:
        if v in seen:
            return v
        seen.add(v)
    return None


class ParameterSpace(BaseModel):
    """Parameter values to sweep: a ``grid`` (every combination) or explicit ``samples`` (a list of settings)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no NaN or infinity in a file
    grid: dict[str, list[float]] = {}
    samples: list[dict[str, float]] = []

    @model_validator(mode="after")
    def _check(self):
        if self.grid and self.samples:
            raise ValueError("give either grid or samples, not both")
        for name, values in self.grid.items():
            if not values:
                raise ValueError(f"grid {name!r} has no values")
            if (again := _first_repeat(values)) is not None:
                raise ValueError(f"grid {name!r} lists {again!r} twice (each run would be made once and the rest counted "
                                 "as already finished)")
        seen: dict[tuple, int] = {}
        for i, sample in enumerate(self.samples):
            key = tuple(sorted(sample.items()))
            if key in seen:
                raise ValueError(f"samples {seen[key]} and {i} are the same setting (counting from 0)")
            seen[key] = i
        return self

    def settings(self) -> list[dict[str, float]]:
        """Every parameter setting (an empty setting when nothing is swept)."""
        if self.samples:
            return [dict(s) for s in self.samples]
        if not self.grid:
            return [{}]
        names = list(self.grid)
        return [dict(zip(names, combo)) for combo in itertools.product(*(self.grid[n] for n in names))]


class SweepSpec(BaseModel):
    """A sweep file."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no NaN or infinity in a file
    region: str
    scenarios: list[str] = Field(default=["baseline"], min_length=1)
    parameters: ParameterSpace = ParameterSpace()
    seeds: int | list[int] = 1
    scale: float = Field(0.1, ge=0.001, le=1.0)
    start: int = Field(2020, ge=1950, le=2100)
    end: int = Field(2035, ge=1950, le=2100)

    @model_validator(mode="after")
    def _check(self):
        if isinstance(self.seeds, int) and self.seeds < 1:
            raise ValueError("seeds must be at least 1 (a count) or a list of seeds")
        if isinstance(self.seeds, list) and (not self.seeds or any(not 0 <= s < 2 ** 32 for s in self.seeds)):
            raise ValueError("a list of seeds must hold seeds from 0 to 4294967295")
        if isinstance(self.seeds, list) and (again := _first_repeat(self.seeds)) is not None:
            raise ValueError(f"seed {again} is listed twice")
        if (again := _first_repeat(self.scenarios)) is not None:
            raise ValueError(f"scenario {again!r} is named twice")
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    def seed_list(self) -> list[int]:
        return list(range(1, self.seeds + 1)) if isinstance(self.seeds, int) else list(self.seeds)

    def size(self) -> int:
        """How many runs the sweep holds, counted without listing them (a mistyped grid can hold millions).

        >>> SweepSpec.model_validate({"region": "r", "scenarios": ["a", "b"], "seeds": 3,
        ...                           "parameters": {"grid": {"x.y": [1, 2]}}}).size()
        12
        """
        p = self.parameters
        settings = len(p.samples) if p.samples else math.prod(len(v) for v in p.grid.values())
        seeds = self.seeds if isinstance(self.seeds, int) else len(self.seeds)
        return len(self.scenarios) * max(settings, 1) * seeds


@dataclass(frozen=True)
class RunSpec:
    """One run of a batch."""

    region: str
    scenario: str
    seed: int
    scale: float
    start: int
    end: int
    overrides: dict = field(default_factory=dict)
    fingerprint: str = ""  # hash of the scenario files' and params.yaml's text
    region_hash: str = ""  # hash of the region folder's content (folder_fingerprint); "" for a run made by hand

    @property
    def run_id(self) -> str:
        what = {**asdict(self), "overrides": sorted(self.overrides.items())}
        if self.region_hash:  # the content, not the path, names the region
            del what["region"]
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def read_sweep(path: Path) -> SweepSpec:
    """Read and validate a sweep file; errors name the file and the field."""
    path = Path(path)
    spec = read_model(path, SweepSpec, "a sweep file", "region, scenarios, parameters, seeds, scale, start, end")
    for name in {n for s in spec.parameters.settings() for n in s}:
        check_parameter_name(path, name)
    return spec


def fingerprint(region_folder: Path, scenario_files: list[Path]) -> str:
    """Hash of the text of params.yaml and the scenario files (bases included)."""
    h = hashlib.sha256()
    for f in [Path(region_folder) / "params.yaml", *scenario_files]:
        if f.exists():
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def expand(spec: SweepSpec, base_dir: Path = Path("."), source: Path | str = "sweep") -> list[RunSpec]:
    """All runs of a sweep, scenarios x parameter settings x seeds (checked before anything runs)."""
    from workflow.runner import prepare

    region_folder = (base_dir / spec.region) if not Path(spec.region).is_absolute() else Path(spec.region)
    runs = []
    region = None
    content = folder_fingerprint(region_folder)
    for scenario in spec.scenarios:
        region, params, loaded = prepare(region_folder, scenario, spec.start, spec.end, region=region)
        for setting in spec.parameters.settings():
            check_values(source, params, setting, region)  # values out of range fail here, before any run
            fp = fingerprint(region_folder, loaded.files)
            for seed in spec.seed_list():
                runs.append(RunSpec(str(region_folder), scenario, seed, spec.scale, spec.start, spec.end, dict(setting), fp,
                                    content))
    return runs
