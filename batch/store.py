"""Where a batch keeps its results: a Parquet dataset partitioned by scenario, and a run registry.

Layout of ``DIR``::

    county/scenario=<name>/<run_id>.parquet      one row per year
    townships/scenario=<name>/<run_id>.parquet   one row per year x township
    registry.parquet                             one row per run: id, parameters, status, error, times, worker
    sweep.json                                   the sweep as given, and the software version

Every file is written under a temporary name and renamed, so a crash never leaves half a file.
Only the process that drives the batch writes here; workers return their tables to it.

Example
-------
>>> import pandas as pd
>>> pd.read_parquet("DIR/county").query("year == 2035").groupby("scenario").primacy.mean()   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

REGISTRY_COLUMNS = ["run_id", "scenario", "seed", "scale", "start", "end", "parameters", "status", "error",
                    "started", "duration_s", "worker", "attempts"]


def _atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    df.to_parquet(tmp, index=False)
    tmp.replace(path)


class ResultStore:
    """Results and registry of one batch folder."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.registry_path = self.out / "registry.parquet"
        self._registry = (pd.read_parquet(self.registry_path) if self.registry_path.exists()
                          else pd.DataFrame(columns=REGISTRY_COLUMNS))

    @property
    def registry(self) -> pd.DataFrame:
        return self._registry.copy()

    def result_path(self, table: str, scenario: str, run_id: str) -> Path:
        return self.out / table / f"scenario={scenario}" / f"{run_id}.parquet"

    def finished(self) -> set[str]:
        """Ids of runs recorded as done whose result files exist."""
        done = self._registry[self._registry.status == "done"]
        return {r.run_id for r in done.itertuples()
                if self.result_path("county", r.scenario, r.run_id).exists()
                and self.result_path("townships", r.scenario, r.run_id).exists()}

    def save(self, run, county: pd.DataFrame, townships: pd.DataFrame) -> None:
        """Write one finished run's tables (the scenario is the partition, so it is not a column)."""
        extra = {"run_id": run.run_id, "seed": run.seed, "scale": run.scale, "parameters": json.dumps(run.overrides, sort_keys=True)}
        for name, value in run.overrides.items():
            extra[f"param:{name}"] = value
        for table, df in (("county", county), ("townships", townships)):
            _atomic_parquet(df.drop(columns=["scenario"], errors="ignore").assign(**extra),
                            self.result_path(table, run.scenario, run.run_id))

    def record(self, run, status: str, error: str = "", started: str = "", duration_s: float = float("nan"),
               worker: str = "") -> None:
        """Add or replace the registry row of a run, and write the registry."""
        reg = self._registry
        previous = reg[reg.run_id == run.run_id]
        attempts = int(previous.attempts.max()) + 1 if len(previous) else 1
        row = {"run_id": run.run_id, "scenario": run.scenario, "seed": run.seed, "scale": run.scale, "start": run.start,
               "end": run.end, "parameters": json.dumps(run.overrides, sort_keys=True), "status": status, "error": error,
               "started": started, "duration_s": duration_s, "worker": worker, "attempts": attempts}
        rows = [r for r in reg.to_dict("records") if r["run_id"] != run.run_id] + [row]
        self._registry = pd.DataFrame(rows, columns=REGISTRY_COLUMNS)
        _atomic_parquet(self._registry, self.registry_path)

    def write_json(self, name: str, data: dict) -> None:
        tmp = self.out / f".{name}.tmp-{os.getpid()}"
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        tmp.replace(self.out / name)
