"""Task functions that fail on purpose, for the batch tests (imported by the Dask workers)."""

import os
from pathlib import Path

from batch.engine import execute


def fail_seed_2(run, bundle=None):
    """Raise inside the task for seed 2 (as a bug in a run would); run the others."""
    if run.seed == 2:
        raise RuntimeError("injected failure for seed 2")
    return execute(run, bundle)


def kill_worker_once(run, bundle=None):
    """The first time seed 1 runs, kill the worker process running it (as an out-of-memory kill would)."""
    marker = Path(run.region) / f".killed-{run.scenario}-{run.seed}"
    if run.seed == 1 and not marker.exists():
        marker.write_text("killed")
        os._exit(1)
    return execute(run, bundle)
