"""Where a batch keeps its results: a Parquet dataset partitioned by scenario, and a run registry.

Layout of ``DIR``::

    county/scenario=<name>/<run_id>.parquet      one row per year
    townships/scenario=<name>/<run_id>.parquet   one row per year x township
    registry.jsonl                               the registry as written: one line per event (append-only)
    registry.parquet                             the registry as a table, one row per run (rewritten at the end)
    sweep.json                                   the sweep as given, and the software version
    .migrasim-output                             marks DIR as a batch folder (see workflow.outdir)
    .lock                                        held by the one process driving the batch

Result files are written under a temporary name and renamed, so a crash never leaves half a file; a registry event
is one appended line, so a crash leaves at most a torn last line, which is ignored. Only the process that drives the
batch writes here (it holds ``.lock``); workers return their tables to it.

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

from geo.region import RegionDataError

REGISTRY_COLUMNS = ["run_id", "scenario", "seed", "scale", "start", "end", "parameters", "status", "error",
                    "started", "duration_s", "worker", "attempts"]


def _atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    df.to_parquet(tmp, index=False)
    tmp.replace(path)


class ResultStore:
    """Results and registry of one batch folder.

    Open it with ``with ResultStore(out) as store:`` to hold the folder's lock (a second driver on the same folder
    is refused with a clear error); reading the registry needs no lock.
    """

    def __init__(self, out: Path):
        from workflow.outdir import MARKER, output_kind, write_marker

        self.out = Path(out)
        if self.out.exists() and any(self.out.iterdir()) and output_kind(self.out) not in ("batch", None):
            raise RegionDataError(self.out, f"holds the results of `run.py {output_kind(self.out)}`, not a batch", field="--out")
        self.out.mkdir(parents=True, exist_ok=True)
        if not (self.out / MARKER).exists():
            write_marker(self.out, "batch")
        self.journal = self.out / "registry.jsonl"
        self.registry_path = self.out / "registry.parquet"
        self._rows: dict[str, dict] = {}
        if self.journal.exists():
            self._read_journal()
        elif self.registry_path.exists():  # a batch folder of an earlier version: its table starts the journal
            for row in pd.read_parquet(self.registry_path).to_dict("records"):
                self._rows[row["run_id"]] = row
        self._lock_fd: int | None = None

    def _read_journal(self) -> None:
        with open(self.journal, encoding="utf-8") as f:
            for line in f:
                try:
                    row = json.loads(line)
                    self._rows[row["run_id"]] = row
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line: the driver was killed while writing it

    # -- the lock -------------------------------------------------------------------------------------------------
    def __enter__(self) -> "ResultStore":
        import fcntl

        fd = os.open(self.out / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RegionDataError(self.out, f"another batch ({holder}) is writing to this folder; wait for it to end or "
                                            "choose another --out", field="--out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        self._lock_fd = fd
        # Only the lock's holder writes here, so a temporary file left now is a killed driver's half-written result
        # (its finished twin, if any, was renamed into place): remove it.
        for leftover in self.out.rglob(".*.tmp-*"):
            if leftover.is_file():
                leftover.unlink(missing_ok=True)
        if self.journal.exists():  # another driver may have written since this store was opened
            self._read_journal()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.write_table()
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # closing releases the lock
                self._lock_fd = None

    # -- reading --------------------------------------------------------------------------------------------------
    @property
    def registry(self) -> pd.DataFrame:
        return pd.DataFrame(list(self._rows.values()), columns=REGISTRY_COLUMNS)

    def result_path(self, table: str, scenario: str, run_id: str) -> Path:
        return self.out / table / f"scenario={scenario}" / f"{run_id}.parquet"

    def attempts(self, run_id: str) -> int:
        row = self._rows.get(run_id)
        return int(row["attempts"]) if row else 0

    def finished(self) -> set[str]:
        """Ids of runs recorded as done whose result files exist."""
        return {r["run_id"] for r in self._rows.values() if r["status"] == "done"
                and self.result_path("county", r["scenario"], r["run_id"]).exists()
                and self.result_path("townships", r["scenario"], r["run_id"]).exists()}

    # -- writing --------------------------------------------------------------------------------------------------
    def save(self, run, county: pd.DataFrame, townships: pd.DataFrame) -> None:
        """Write one finished run's tables (the scenario is the partition, so it is not a column)."""
        extra = {"run_id": run.run_id, "seed": run.seed, "scale": run.scale, "parameters": json.dumps(run.overrides, sort_keys=True)}
        for name, value in run.overrides.items():
            extra[f"param:{name}"] = value
        for table, df in (("county", county), ("townships", townships)):
            _atomic_parquet(df.drop(columns=["scenario"], errors="ignore").assign(**extra),
                            self.result_path(table, run.scenario, run.run_id))

    def record(self, run, status: str, error: str = "", started: str = "", duration_s: float = float("nan"),
               worker: str = "", attempts: int | None = None) -> None:
        """Record a run's outcome: one line appended to the journal (constant cost, whatever the registry's size)."""
        row = {"run_id": run.run_id, "scenario": run.scenario, "seed": run.seed, "scale": run.scale, "start": run.start,
               "end": run.end, "parameters": json.dumps(run.overrides, sort_keys=True), "status": status, "error": error,
               "started": started, "duration_s": duration_s, "worker": worker,
               "attempts": attempts if attempts is not None else self.attempts(run.run_id) + 1}
        line = json.dumps(row, allow_nan=True, default=str) + "\n"
        fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        self._rows[run.run_id] = row

    def write_table(self) -> None:
        """Write the registry as one Parquet table (registry.parquet), one row per run."""
        if self._rows:
            _atomic_parquet(self.registry, self.registry_path)

    def write_json(self, name: str, data: dict) -> None:
        tmp = self.out / f".{name}.tmp-{os.getpid()}"
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        tmp.replace(self.out / name)
