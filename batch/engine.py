"""Running a batch on Dask: a local cluster over this machine's cores, or an existing cluster.

The driving process submits one task per run that is not finished yet, writes each result as
it arrives (atomically, once) and records it in the registry. A run that raises comes back as
a failure with its error; a run whose worker dies is retried by Dask on another worker and,
if it keeps killing workers, recorded as failed. Nothing else stops the batch.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from batch.store import ResultStore
from batch.sweep import RunSpec

def execute(run: RunSpec) -> dict:
    """Run one simulation on a worker; never raises (errors come back in the result).

    Example
    -------
    >>> r = execute(RunSpec("configs/<region>", "baseline", 1, 0.01, 2020, 2022))   # doctest: +SKIP
    >>> r["ok"], r["county"].shape                                                  # doctest: +SKIP
    """
    from workflow.runner import cached_region, simulate

    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        res = simulate(Path(run.region), run.scenario, run.start, run.end, run.scale, run.seed,
                       overrides=run.overrides or None, region=cached_region(run.region))
        return {"ok": True, "county": res.county, "townships": res.townships, "started": started,
                "duration_s": time.perf_counter() - t0, "worker": worker}
    except Exception as exc:  # a failed run is data, not a crash of the batch
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}", "started": started,
                "duration_s": time.perf_counter() - t0, "worker": worker}


def local_client(workers: int | None = None):
    """A Dask client on a LocalCluster of single-threaded worker processes (one per core by default)."""
    import dask
    from distributed import Client, LocalCluster

    n = workers or os.cpu_count() or 1
    # Dask's sampling profiler interrupts the task thread every 10 ms; the model's shortest-path searches
    # are pure Python, so it costs them about a third of their speed. Batch runs do not need it.
    with dask.config.set({"distributed.worker.profile.enabled": False}):
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                               memory_limit="auto", silence_logs=40)
    return Client(cluster)


def run_batch(runs: list[RunSpec], out: Path, client=None, workers: int | None = None,
              task: Callable[[RunSpec], dict] = execute,
              on_result: Callable[[RunSpec, str], None] | None = None) -> dict:
    """Run every run not finished in ``out`` and record each result.

    Parameters
    ----------
    runs : the batch (from :func:`batch.sweep.expand`).
    out : the batch folder (created if missing; finished runs in it are skipped).
    client : a ``distributed.Client``; None starts a LocalCluster with ``workers`` processes.
    task : the function a worker runs for one run (tests replace it to inject failures).
    on_result : called with (run, "done" | "failed") as results arrive.

    Returns
    -------
    dict with counts: total, skipped (already finished), done, failed; and the failed run ids with errors.
    """
    from distributed import as_completed

    store = ResultStore(out)
    finished = store.finished()
    pending, seen = [], set()
    for r in runs:
        if r.run_id in finished or r.run_id in seen:
            continue
        seen.add(r.run_id)
        pending.append(r)
    summary = {"total": len(runs), "skipped": len(runs) - len(pending), "done": 0, "failed": 0, "failures": {}}
    if not pending:
        return summary
    own = client is None
    if own:
        client = local_client(workers)
    try:
        by_key = {}
        futures = []
        for r in pending:
            f = client.submit(task, r, key=f"run-{r.run_id}-{time.time_ns()}", pure=False)
            by_key[f.key] = r
            futures.append(f)
        for fut in as_completed(futures):
            r = by_key[fut.key]
            if fut.status == "finished":
                result = fut.result()
            else:  # the task could not finish: e.g. it killed its workers too often
                result = {"ok": False, "error": f"{type(fut.exception()).__name__}: {fut.exception()}", "started": "",
                          "duration_s": float("nan"), "worker": ""}
            if result["ok"]:
                store.save(r, result["county"], result["townships"])
                store.record(r, "done", started=result["started"], duration_s=result["duration_s"], worker=result["worker"])
                summary["done"] += 1
                status = "done"
            else:
                store.record(r, "failed", error=result["error"], started=result["started"], duration_s=result["duration_s"],
                             worker=result["worker"])
                summary["failed"] += 1
                summary["failures"][r.run_id] = result["error"].splitlines()[0]
                status = "failed"
            fut.release()
            if on_result:
                on_result(r, status)
    finally:
        if own:
            cluster = client.cluster
            client.close()
            cluster.close()
    return summary
