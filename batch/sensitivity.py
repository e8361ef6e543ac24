"""Global sensitivity analysis with SALib (Morris screening or Sobol indices), run through the batch machinery.

A spec names parameters with ranges, the indicators to explain and the year. Every sample is a
run with the same seed (common random numbers), so differences between samples come from the
parameters, not from the random stream.

Example spec::

    region: configs/<region>
    scenario: baseline
    method: morris          # or sobol
    samples: 10             # Morris trajectories, or Sobol base samples (N)
    scale: 0.05
    end: 2035
    outputs: [primacy, urbanisation]
    parameters:
      moves.beta_access: [0.6, 1.8]
      migration.nonlabour_per_1000_persons: [8, 24]
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from batch.sweep import RunSpec, fingerprint
from geo.errors import RegionDataError
from geo.region import read_model
from sim.indicators import COUNT_COLUMNS, EXTRA_COLUMNS, HOUSING_COLUMNS, LABOUR_COLUMNS, RATE_COLUMNS
from sim.params import FACTOR, field_type, split_factor
from workflow.io import check_parameter_name, check_values, folder_fingerprint

OUTPUTS = COUNT_COLUMNS + RATE_COLUMNS + EXTRA_COLUMNS + LABOUR_COLUMNS + HOUSING_COLUMNS


class SensitivitySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no NaN or infinity in a file
    region: str
    scenario: str = "baseline"
    method: Literal["morris", "sobol"] = "morris"
    samples: int = Field(10, ge=2)
    levels: int = Field(4, ge=2)
    seed: int = Field(1, ge=0, lt=2 ** 32)
    scale: float = Field(0.05, ge=0.001, le=1.0)
    start: int = Field(2020, ge=1950, le=2100)
    end: int = Field(2035, ge=1950, le=2100)
    year: int | None = None
    outputs: list[str] = Field(default=["primacy", "urbanisation"], min_length=1)
    parameters: dict[str, tuple[float, float]] = Field(min_length=2)

    @model_validator(mode="after")
    def _check(self):
        for name, (lo, hi) in self.parameters.items():
            if not lo < hi:
                raise ValueError(f"parameter {name!r}: range [{lo}, {hi}] must have low < high")
        for o in self.outputs:
            if o not in OUTPUTS and o != "primacy" and not o.endswith("_share"):
                raise ValueError(f"unknown output {o!r} (expected a county indicator: {', '.join(OUTPUTS)}, "
                                 "primacy or <group>_share for a township group of the region)")
        y = self.year if self.year is not None else self.end
        if not self.start < y <= self.end:
            raise ValueError(f"year {y} is outside the run {self.start}-{self.end}")
        return self

    @property
    def problem(self) -> dict:
        names = list(self.parameters)
        return {"num_vars": len(names), "names": names, "bounds": [list(self.parameters[n]) for n in names]}


def read_spec(path: Path) -> SensitivitySpec:
    path = Path(path)
    spec = read_model(path, SensitivitySpec, "a sensitivity spec", "region, scenario, method, samples, outputs, parameters")
    for name in spec.parameters:
        check_parameter_name(path, name)
        if not split_factor(name)[1] and field_type(name) not in (int, float):  # a factor is one number
            raise RegionDataError(path, f"parameter {name!r} takes several numbers; vary it by one number with "
                                        f"'{name}{FACTOR}' (a factor on all of them)", field="parameters")
    for name in whole_number_parameters(spec.parameters):
        lo, hi = spec.parameters[name]
        step = (hi - lo) / (spec.levels - 1)
        if spec.method == "morris" and not (float(lo).is_integer() and float(step).is_integer()):
            raise RegionDataError(path, f"parameter {name!r} takes whole numbers, so its Morris levels must be whole: "
                                        f"[{lo:g}, {hi:g}] over {spec.levels} levels gives steps of {step:g} (e.g. "
                                        f"[{int(lo)}, {int(lo) + spec.levels - 1}] steps by 1)", field="parameters")
    return spec


def whole_number_parameters(names) -> list[str]:
    """The parameters among ``names`` (``section.name``) that take whole numbers (an ``int`` field of the Params).

    >>> whole_number_parameters(["labour.retirement_age", "moves.beta_access"])
    ['labour.retirement_age']
    """
    return [name for name in names if field_type(name) is int]  # a factor's name is no field: never whole


def size(spec: SensitivitySpec) -> int:
    """Runs the design holds: Morris samples x (parameters + 1), Sobol N x (parameters + 2).

    >>> size(SensitivitySpec.model_validate({"region": "r", "samples": 8, "outputs": ["primacy"],
    ...       "parameters": {"a.b": [0, 1], "c.d": [0, 1]}}))
    24
    """
    k = len(spec.parameters)
    return spec.samples * (k + 1 if spec.method == "morris" else k + 2)


def sample(spec: SensitivitySpec) -> np.ndarray:
    """The parameter samples, one row per run (SALib's Morris or Saltelli/Sobol design)."""
    if spec.method == "morris":
        from SALib.sample import morris

        X = morris.sample(spec.problem, spec.samples, num_levels=spec.levels, seed=spec.seed)
    else:
        from SALib.sample import sobol

        X = sobol.sample(spec.problem, spec.samples, calc_second_order=False, seed=spec.seed)
    # whole-number parameters run at whole numbers: Morris levels are whole already (read_spec), up to rounding error;
    # Sobol's samples are rounded, and the analysis sees the values that ran
    names = spec.problem["names"]
    for name in whole_number_parameters(names):
        j = names.index(name)
        X[:, j] = np.round(X[:, j])
    return X


def runs_for(spec: SensitivitySpec, X: np.ndarray, region_folder: Path) -> list[RunSpec]:
    from workflow.runner import prepare

    region, params, loaded = prepare(region_folder, spec.scenario, spec.start, spec.end)
    fp = fingerprint(region_folder, loaded.files)
    content = folder_fingerprint(region_folder)
    names = spec.problem["names"]
    runs = []
    whole = set(whole_number_parameters(names))
    for row in X:
        overrides = {n: int(round(v)) if n in whole else float(v) for n, v in zip(names, row)}
        check_values("sensitivity spec", params, overrides, region)
        runs.append(RunSpec(str(region_folder), spec.scenario, spec.seed, spec.scale, spec.start, spec.end, overrides, fp,
                            content))
    return runs


def analyse(spec: SensitivitySpec, X: np.ndarray, Y: dict[str, np.ndarray]) -> pd.DataFrame:
    """Indices per output and parameter: Morris mu* (with confidence) and sigma, or Sobol S1 and ST (with confidence)."""
    rows = []
    for out, y in Y.items():
        if spec.method == "morris":
            from SALib.analyze import morris

            res = morris.analyze(spec.problem, X, y, num_levels=spec.levels, seed=spec.seed)
            for k, name in enumerate(spec.problem["names"]):
                rows.append({"output": out, "parameter": name, "mu_star": res["mu_star"][k], "mu_star_conf": res["mu_star_conf"][k],
                             "mu": res["mu"][k], "sigma": res["sigma"][k]})
        else:
            from SALib.analyze import sobol

            res = sobol.analyze(spec.problem, y, calc_second_order=False, seed=spec.seed)
            for k, name in enumerate(spec.problem["names"]):
                rows.append({"output": out, "parameter": name, "S1": res["S1"][k], "S1_conf": res["S1_conf"][k],
                             "ST": res["ST"][k], "ST_conf": res["ST_conf"][k]})
    df = pd.DataFrame(rows)
    key = "mu_star" if spec.method == "morris" else "ST"
    return df.sort_values(["output", key], ascending=[True, False]).reset_index(drop=True)


def plot(indices: pd.DataFrame, method: str, year: int, out: Path, top: int = 20) -> Path:
    """Horizontal bars: which parameters drive each output, the ``top`` largest per output (all of them in
    indices.csv)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key, err = ("mu_star", "mu_star_conf") if method == "morris" else ("ST", "ST_conf")
    outputs = list(dict.fromkeys(indices.output))
    n = indices.parameter.nunique()
    shown = min(n, top)
    cols = min(len(outputs), 3)  # panels in rows of three, so six outputs stay readable
    rows = -(-len(outputs) // cols)
    # constrained, not tight, layout: tight_layout leaves no room for the figure's title, which then covered the
    # middle panel's
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, (0.3 * shown + 1.2) * rows), dpi=110, squeeze=False,
                             layout="constrained")
    for ax in axes.ravel()[len(outputs):]:
        ax.set_visible(False)
    for ax, o in zip(axes.ravel(), outputs):
        d = indices[indices.output == o].sort_values(key).tail(shown)
        ax.barh(d.parameter, d[key], xerr=d[err], color="#4c72b0", alpha=0.85)
        ax.set_title(f"{o}, {year}" + (f" (largest {shown} of {n})" if shown < n else ""), fontsize=10)
        ax.set_xlabel("Morris μ* (mean |elementary effect|)" if method == "morris" else "Sobol total index S_T")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Which parameters drive the results" + (" (Morris screening)" if method == "morris" else " (Sobol)"))
    out = Path(out)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    fig.savefig(tmp, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(out)
    return out


def outputs_of(store_dir: Path, runs: list[RunSpec], outputs: list[str], year: int) -> dict[str, np.ndarray]:
    """Each output in ``year`` for every run, in the order of ``runs`` (NaN for failed runs)."""
    county = pd.read_parquet(Path(store_dir) / "county")
    at = county[county.year == year].drop_duplicates("run_id").set_index("run_id")
    return {o: np.array([at[o].get(r.run_id, np.nan) for r in runs], dtype=float) for o in outputs}
