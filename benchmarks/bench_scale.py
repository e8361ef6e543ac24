"""A Wenzhou-size region, run by hand: python benchmarks/bench_scale.py [FACTOR]

Writes a synthetic region into a temporary folder: Pingyang's geography, network and parameters with every
count (residents, urban residents, jobs, dwellings, census totals) multiplied by FACTOR (default 8.3: about
3 million households, Wenzhou's size), then runs 2020 -> 2035 at full scale in this process. Prints the time to
build, the 15 years, and the peak resident memory. The goal (issue 23) is 15 years in at most 20 s within 1.5 GB.
"""

from __future__ import annotations

import re
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COUNT_COLUMNS = {"townships.csv": ["pop_2010", "pop_2020", "urban_pop_2010", "urban_pop_2020"],
                 "economy.csv": ["jobs_primary", "jobs_secondary", "jobs_tertiary", "housing_urban", "housing_rural",
                                 "capacity_urban", "capacity_rural"]}


def synthetic_region(factor: float, folder: Path) -> Path:
    """Pingyang with every count multiplied by ``factor`` (shares, prices, network and parameters unchanged)."""
    shutil.copytree(ROOT / "configs" / "pingyang", folder)
    for name, columns in COUNT_COLUMNS.items():
        df = pd.read_csv(folder / name, dtype=str, keep_default_na=False)
        for c in columns:
            if c in df:
                df[c] = [str(round(float(v) * factor)) if v != "" else "" for v in df[c]]
        df.to_csv(folder / name, index=False)
    text = (folder / "region.yaml").read_text(encoding="utf-8")
    for key in ("population", "population_trend", "hukou_population", "floating_population"):  # census counts
        text = re.sub(rf"(\n\s+{key}: {{value: )(\d+)", lambda m: m.group(1) + str(round(int(m.group(2)) * factor)), text)
    text = re.sub(r"(\n\s+persons: )(\d+)", lambda m: m.group(1) + str(round(int(m.group(2)) * factor)), text)
    (folder / "region.yaml").write_text(text.replace("name: Pingyang", "name: Synthetic"), encoding="utf-8")
    return folder


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="15 years of a synthetic region: Pingyang's counts times FACTOR.")
    parser.add_argument("factor", nargs="?", type=float, default=8.3,
                        help="multiplier of every count (default 8.3: about 3 million households)")
    args = parser.parse_args()
    if not 0.01 <= args.factor <= 50:  # (nan fails both comparisons too)
        parser.error(f"factor: expected a multiplier from 0.01 to 50, got {args.factor}")

    from geo.region import load_region
    from sim.model import MigrationModel
    from workflow.io import load_params
    from workflow.memory import keep_freed_memory

    tuned = keep_freed_memory()  # as run.py's runs do (workflow.runner.simulate)

    factor = args.factor
    folder = synthetic_region(factor, Path(tempfile.mkdtemp()) / "synthetic")
    region, params = load_region(folder), load_params(folder)
    t0 = time.perf_counter()
    m = MigrationModel(region, params=params, scale=1.0, seed=1)
    t1 = time.perf_counter()
    start_households = m.population.n_households
    m.run()
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"factor {factor}: {start_households:,} households at the start, {m.population.n_households:,} at the end; "
          f"build {t1 - t0:.1f} s, 15 years {t2 - t1:.1f} s, peak memory {peak:,.0f} MB"
          f"{'' if tuned else ' (allocator settings not available here)'}")
