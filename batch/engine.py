"""Running a batch on Dask: a local cluster over this machine's cores, or an existing cluster.

The driving process holds the batch folder's lock, checks every worker before using it, ships the region's files
with the tasks (a worker needs no copy of the repository's ``configs/``, nor the same working folder), keeps a
bounded number of runs in flight, writes each result as it arrives (atomically, once) and records it in the
registry. What can happen to a run, and what the batch does:

- the run raises: recorded ``failed`` with its error; the others go on.
- its worker process dies: Dask retries it on another worker; a run that keeps killing workers is recorded
  ``failed`` (``KilledWorker``).
- the worker cannot run anything (the project or a library is missing there, the region cannot be unpacked):
  that worker is taken out of use for this batch and the run goes to another; no ``failed`` row.
- the scheduler goes away: the batch stops with :class:`ClusterLost` (one line; no ``failed`` rows); finished
  runs are kept and the same command resumes.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import shutil
import signal
import socket
import tarfile
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import CancelledError
from datetime import datetime, timezone
from pathlib import Path

from batch.store import ResultStore
from batch.sweep import RunSpec
from geo.region import RegionDataError
from workflow.io import folder_fingerprint
from workflow.memory import local_workers
from workflow.lifetime import ending_signals


class ClusterLost(RegionDataError):
    """The Dask cluster went away (or has no usable worker); finished runs are kept and the batch can resume."""


def pack_region(folder: Path) -> bytes:
    """The region folder's files as a gzipped tar (hidden files and caches left out), to ship to workers.

    >>> len(pack_region(Path("configs/<region>"))) < 2_000_000   # doctest: +SKIP
    True
    """
    folder = Path(folder)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for f in sorted(folder.rglob("*")):
            rel = f.relative_to(folder)
            if f.is_file() and not any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
                tar.add(f, arcname=rel.as_posix(), recursive=False)
    return buf.getvalue()


def unpack_region(bundle: bytes, content: str, root: Path | None = None) -> Path:
    """Unpack a region shipped by :func:`pack_region` into a per-content folder of this machine (once per worker
    machine) and return it; a bundle whose files do not hash to ``content`` is an error."""
    root = Path(root or Path(tempfile.gettempdir()) / "migrasim-regions")
    folder = root / content
    if folder.is_dir():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{content}-", dir=root))
    try:
        with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar:
            tar.extractall(tmp, filter="data")
        got = folder_fingerprint(tmp)
        if got != content:
            raise RegionDataError(folder, f"the region shipped to this worker hashes to {got}, expected {content}")
        try:
            tmp.rename(folder)
        except OSError:  # another task of this machine unpacked it first
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def execute(run: RunSpec, bundle: bytes | None = None) -> dict:
    """Run one simulation on a worker; never raises (errors come back in the result).

    With ``bundle`` (the region's files, :func:`pack_region`) the region is read from it, not from ``run.region``.
    A result with ``environment`` True means this worker cannot run anything (not this run's fault).

    Example
    -------
    >>> r = execute(RunSpec("configs/<region>", "baseline", 1, 0.01, 2020, 2022))   # doctest: +SKIP
    >>> r["ok"], r["county"].shape                                                  # doctest: +SKIP
    """
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    worker = _worker_name()
    try:
        from sim.parallel import use_helper
        from workflow.runner import cached_region, simulate

        use_helper(False)  # one worker per core: the model's helper thread would only wait for a free core
        folder = unpack_region(bundle, run.region_hash) if bundle is not None else Path(run.region)
    except Exception as exc:  # this worker cannot run anything: an import or the region's files
        return {"ok": False, "environment": True, "error": f"{type(exc).__name__}: {exc}", "started": started,
                "duration_s": time.perf_counter() - t0, "worker": worker}
    try:
        res = simulate(folder, run.scenario, run.start, run.end, run.scale, run.seed, overrides=run.overrides or None,
                       region=cached_region(folder))
        return {"ok": True, "county": res.county, "townships": res.townships, "started": started,
                "duration_s": time.perf_counter() - t0, "worker": worker}
    except Exception as exc:  # a failed run is data, not a crash of the batch
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}", "started": started,
                "duration_s": time.perf_counter() - t0, "worker": worker}


def check_worker(version: str) -> dict:
    """Run on every worker before a batch: can it import the model, and which version does it have?"""
    from workflow.io import provenance

    import workflow.runner  # noqa: F401  (the import a run needs)

    return {"version": provenance()["version"], "expected": version}


def local_client(workers: int | None = None):
    """A Dask client on a LocalCluster of single-threaded worker processes (one per core by default)."""
    import dask
    from distributed import Client, LocalCluster

    n = local_workers(workers)
    # Dask's sampling profiler interrupts the task thread every 10 ms; the model's shortest-path searches
    # are pure Python, so it costs them about a third of their speed. Batch runs do not need it.
    # Ctrl-C reaches the whole process group. The cluster's processes start with SIGINT ignored (an ignored signal
    # is inherited, and nannies pass it on to the workers they restart), so they never see it: the driver closes
    # the cluster and says so in one line, instead of a traceback from every worker. A Ctrl-C during these few
    # seconds of start-up is lost; the next one works.
    # SIGTERM and SIGHUP (handled by the command line as a Ctrl-C, cli.ending.stop_on_terminate) wait until the
    # cluster has started: raised half-way, they left nannies failing to start and a traceback at exit. The cluster
    # is then closed and the signal sent again, to the handler that was there before.
    pending: list[int] = []
    deferred = [s for s in ending_signals() if callable(signal.getsignal(s))]
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    handlers = {s: signal.signal(s, lambda signum, frame: pending.append(signum)) for s in deferred}
    try:
        with dask.config.set({"distributed.worker.profile.enabled": False}):
            # silence_logs=CRITICAL: a worker whose heartbeat finds the scheduler already closed logs an ERROR with a
            # traceback (seen once in 20-odd Ctrl-C tests); lost runs are reported by the batch itself, per run
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                   memory_limit="auto", silence_logs=logging.CRITICAL)
            client = Client(cluster)
    finally:
        signal.signal(signal.SIGINT, previous)
        for s, handler in handlers.items():
            signal.signal(s, handler)
    if pending:
        client.close()
        cluster.close()
        os.kill(os.getpid(), pending[0])
    return client


def connect(address: str, timeout: float = 20.0):
    """A client of the Dask scheduler at ``address``; one clear error if it cannot be reached."""
    from distributed import Client

    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterLost("--scheduler", f"cannot reach the Dask scheduler at {address} within {timeout:.0f} s "
                                         f"({type(exc).__name__}); is `dask scheduler` running there?") from None


def unusable_workers(client) -> dict[str, str]:
    """The workers that cannot run the model (checked by running :func:`check_worker` on each), with the reason; they
    are left out of this batch. Raises ClusterLost if no worker can."""
    from workflow.io import provenance

    version = provenance()["version"]
    try:
        client.wait_for_workers(1, timeout=60)
    except (TimeoutError, OSError):
        raise ClusterLost("--scheduler", "the Dask cluster has no worker (none joined within 60 s)") from None
    answers = client.run(check_worker, version, on_error="return")
    bad = {}
    for w, a in answers.items():
        if not isinstance(a, dict):
            bad[w] = f"{type(a).__name__}: {a}"
        elif a.get("version") != a.get("expected"):
            bad[w] = f"migrasim {a.get('version')} installed, the driver has {a.get('expected')}"
    if len(bad) == len(answers):
        first = next(iter(bad.values()), "no answer")
        raise ClusterLost("--scheduler", f"no worker of the cluster can run the model ({first}); install the project "
                                         "on the workers (docs/batch.md)")
    return bad


def usable_workers(client, bad: set[str], tries: int = 4) -> list[str]:
    """The cluster's workers not in ``bad``, asked of the scheduler up to ``tries`` times over a few seconds before
    the answer "none" is believed.

    ``Client.scheduler_info()`` keeps the list it had when a query fails, and a client's first list (from its
    handshake) is empty: on a loaded machine a batch once stopped with "no usable worker left" while a good worker
    was running. A worker may also be restarting (a nanny's) at that moment.
    """
    for attempt in range(tries):
        try:
            workers = client.sync(client.scheduler.identity, n_workers=-1)["workers"]
        except OSError:
            workers = {}
        where = [w for w in workers if w not in bad]
        if where or attempt == tries - 1:
            return where
        time.sleep(0.5 * 2 ** attempt)
    return []


def _lost(out: Path, why: str, done: int) -> ClusterLost:
    """The one error for a cluster that went away mid-batch."""
    return ClusterLost(out, f"lost the Dask cluster ({why}); {done} runs of this invocation are kept, none recorded as "
                            "failed for it; run the same command again to resume")


def _infrastructure(fut) -> str | None:
    """Why a future did not finish, if the cause is the cluster rather than the run (None: the run's own failure)."""
    if fut.status == "error":
        exc = fut.exception()
        name = type(exc).__name__
        if name in ("CommClosedError", "StreamClosedError", "CancelledError") or isinstance(exc, OSError):
            return f"{name}: {exc}"
        return None
    return f"the task is {fut.status}"


def run_batch(runs: list[RunSpec], out: Path, client=None, workers: int | None = None,
              task: Callable[..., dict] = execute,
              on_result: Callable[[RunSpec, str], None] | None = None, in_flight: int | None = None) -> dict:
    """Run every run not finished in ``out`` and record each result.

    Parameters
    ----------
    runs : the batch (from :func:`batch.sweep.expand`).
    out : the batch folder (created if missing; finished runs in it are skipped).
    client : a ``distributed.Client``; None starts a LocalCluster with ``workers`` processes.
    task : the function a worker runs, ``task(run, bundle)`` (tests replace it to inject failures).
    on_result : called with (run, "done" | "failed") as results arrive.
    in_flight : most runs submitted at once (default: twice the usable workers, at least 4).

    Returns
    -------
    dict with counts: total, skipped (already finished), done, failed; and the failed run ids with errors.

    Raises
    ------
    ClusterLost when the scheduler goes away or no worker can run the model: nothing is recorded as failed for it,
    and running the same batch again resumes.
    """
    from distributed import as_completed

    with ResultStore(out) as store:
        finished = store.finished()
        pending, seen = [], set()
        for r in runs:
            if r.run_id in finished or r.run_id in seen:
                continue
            seen.add(r.run_id)
            pending.append(r)
        summary = {"total": len(runs), "skipped": len(runs) - len(pending), "done": 0, "failed": 0, "failures": {},
                   "workers_left_out": []}
        if not pending:
            return summary
        own = client is None
        if own:
            client = local_client(workers)
        try:
            _drive(client, pending, store, task, on_result, in_flight, summary, as_completed)
        except ClusterLost:
            raise
        except (OSError, TimeoutError, CancelledError, asyncio.CancelledError) as exc:  # gone while fetching a result
            raise _lost(store.out, f"{type(exc).__name__}: {exc}", summary["done"]) from None
        finally:
            if own:
                cluster = client.cluster
                client.close()
                cluster.close()
    return summary


def _drive(client, pending, store, task, on_result, in_flight, summary, as_completed) -> None:
    reasons = unusable_workers(client)
    bad = set(reasons)
    summary["workers_left_out"].extend(f"{w}: {why}" for w, why in sorted(reasons.items()))
    # The region's files travel inside each task (about 0.2 MB for a county; at most `limit` tasks are in flight).
    # Scattering them once instead would save little and breaks on a worker's death: Dask cannot recompute
    # scattered data, so it cancels the tasks that need it.
    bundles = {h: pack_region(Path(r.region)) for h, r in {r.region_hash: r for r in pending if r.region_hash}.items()}
    limit = in_flight or max(4, 2 * len(client.scheduler_info()["workers"]))
    queue = list(reversed(pending))
    attempts: dict[str, int] = {}
    by_key: dict[str, RunSpec] = {}
    ac = as_completed()

    def submit(r: RunSpec) -> None:
        attempts[r.run_id] = attempts.get(r.run_id, store.attempts(r.run_id)) + 1
        # no restriction while every worker is usable, so workers that join or restart (a nanny's) are used too
        where = None
        if bad:
            where = usable_workers(client, bad)
            if not where:
                raise ClusterLost(store.out, f"no usable worker left ({len(bad)} left out: {sorted(bad)[0]} ...); runs "
                                             "finished so far are kept; fix the workers and run the same command again")
        f = client.submit(task, r, bundles.get(r.region_hash), key=f"run-{r.run_id}-{time.time_ns()}", pure=False,
                          workers=where, allow_other_workers=False)
        by_key[f.key] = r
        ac.add(f)

    while queue and len(by_key) < limit:
        submit(queue.pop())
    for fut in ac:
        r = by_key.pop(fut.key)
        if fut.status == "finished":
            result = fut.result()
        else:
            why = _infrastructure(fut)
            if why is not None or client.status not in ("running", "connecting"):
                fut.release()
                for f in list(ac.futures):
                    f.cancel()
                raise _lost(store.out, why or client.status, summary["done"])
            exc = fut.exception()  # e.g. KilledWorker: the run killed its workers repeatedly
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "started": "", "duration_s": float("nan"),
                      "worker": ""}
        fut.release()
        if result.get("environment"):  # the worker cannot run anything: leave it out, run this elsewhere
            if result["worker"] not in bad:
                bad.add(result["worker"])
                summary["workers_left_out"].append(f"{result['worker']}: {result['error']}")
            submit(r)
            continue
        if result["ok"]:
            store.save(r, result["county"], result["townships"])
            store.record(r, "done", started=result["started"], duration_s=result["duration_s"], worker=result["worker"],
                         attempts=attempts[r.run_id])
            summary["done"] += 1
            status = "done"
        else:
            store.record(r, "failed", error=result["error"], started=result["started"], duration_s=result["duration_s"],
                         worker=result["worker"], attempts=attempts[r.run_id])
            summary["failed"] += 1
            summary["failures"][r.run_id] = result["error"].splitlines()[0]
            status = "failed"
        if on_result:
            on_result(r, status)
        while queue and len(by_key) < limit:
            submit(queue.pop())
