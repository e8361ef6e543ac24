"""Batch runs on a real dask.distributed LocalCluster (2 workers), and sensitivity analysis."""

import numpy as np
import pandas as pd
import pytest

import batch_faults
from batch import sensitivity as sa
from batch.engine import run_batch
from batch.sweep import expand, read_sweep
from geo.region import RegionDataError
from toy import write_scenario
from workflow.runner import simulate


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def sweep_file(folder, region, **extra):
    import yaml

    doc = {"region": str(region), "scenarios": ["baseline", "jobs_c"], "seeds": 2, "scale": 1.0, "start": 2020, "end": 2023, **extra}
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.fixture
def toy_sweep(toy, tmp_path):
    write_scenario(toy, "jobs_c", [{"type": "jobs", "township": "C", "sector": "secondary", "jobs": 2000, "year": 2022}])
    return sweep_file(tmp_path, toy)


def test_sweep_on_local_cluster_equals_serial_runs_and_resumes(client, toy_sweep, tmp_path):
    runs = expand(read_sweep(toy_sweep))
    assert len(runs) == 4 and len({r.run_id for r in runs}) == 4
    out = tmp_path / "batch"
    summary = run_batch(runs, out, client=client)
    assert summary["done"] == 4 and summary["failed"] == 0
    county = pd.read_parquet(out / "county")
    assert set(county.scenario) == {"baseline", "jobs_c"} and len(county) == 4 * 4
    for r in runs:
        serial = simulate(r.region, r.scenario, r.start, r.end, r.scale, r.seed).county
        got = county[county.run_id == r.run_id].sort_values("year")
        assert np.allclose(got.population.to_numpy(), serial.population.to_numpy())
        assert np.allclose(got.primacy.to_numpy(), serial.primacy.to_numpy())
    towns = pd.read_parquet(out / "townships")
    assert len(towns) == 4 * 4 * 3
    reg = pd.read_parquet(out / "registry.parquet")
    assert reg.run_id.is_unique and (reg.status == "done").all() and reg.worker.str.len().gt(0).all()
    # a second invocation skips everything and writes nothing
    before = {p: p.stat().st_mtime_ns for p in (out / "county").rglob("*.parquet")}
    again = run_batch(runs, out, client=client)
    assert again["skipped"] == 4 and again["done"] == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "county").rglob("*.parquet")} == before


def test_a_run_that_raises_is_recorded_and_the_others_complete(client, toy_sweep, tmp_path):
    runs = expand(read_sweep(toy_sweep))
    out = tmp_path / "batch"
    summary = run_batch(runs, out, client=client, task=batch_faults.fail_seed_2)
    assert summary["done"] == 2 and summary["failed"] == 2
    reg = pd.read_parquet(out / "registry.parquet")
    failed = reg[reg.status == "failed"]
    assert set(failed.seed) == {2} and failed.error.str.contains("injected failure for seed 2").all()
    assert len(list((out / "county").rglob("*.parquet"))) == 2
    # resuming redoes only the failed runs
    redo = run_batch(runs, out, client=client)
    assert redo["skipped"] == 2 and redo["done"] == 2
    reg = pd.read_parquet(out / "registry.parquet")
    assert (reg.status == "done").all() and reg.run_id.is_unique and set(reg[reg.seed == 2].attempts) == {2}


def test_a_killed_worker_loses_no_run_and_duplicates_none(client, toy, toy_sweep, tmp_path):
    runs = expand(read_sweep(toy_sweep))
    out = tmp_path / "batch"
    summary = run_batch(runs, out, client=client, task=batch_faults.kill_worker_once)
    assert len(list(toy.glob(".killed-*"))) == 2  # two worker processes really died mid-run (seed 1 of each scenario)
    assert summary["done"] + summary["failed"] == 4, summary
    reg = pd.read_parquet(out / "registry.parquet")
    assert len(reg) == 4 and reg.run_id.is_unique, reg
    files = list((out / "county").rglob("*.parquet"))
    assert len(files) == summary["done"] == (reg.status == "done").sum(), (files, summary)
    assert summary["done"] == 4, summary  # Dask retried the killed runs on a live worker
    client.wait_for_workers(2, timeout=60)


def test_bad_sweep_files(tmp_path, toy):
    e = pytest.raises(RegionDataError, read_sweep, sweep_file(tmp_path, toy, parameters={"grid": {"moves.nonsense": [1, 2]}})).value
    assert "unknown parameter 'moves.nonsense'" in str(e) and e.file.endswith("sweep.yaml")
    e = pytest.raises(RegionDataError, read_sweep, sweep_file(tmp_path, toy, scale=3)).value
    assert "scale" in str(e) and "less than or equal to 1" in str(e)
    e = pytest.raises(RegionDataError, read_sweep, sweep_file(tmp_path, toy, seeds=0)).value
    assert "seeds must be at least 1" in str(e)
    e = pytest.raises(RegionDataError, read_sweep, sweep_file(tmp_path, toy, colour="blue")).value
    assert "colour" in str(e)
    with pytest.raises(RegionDataError, match="unknown scenario 'nosuch'"):
        expand(read_sweep(sweep_file(tmp_path, toy, scenarios=["nosuch"])))
    path = sweep_file(tmp_path, toy, parameters={"grid": {"moves.hukou_openness": [5.0]}})
    e = pytest.raises(RegionDataError, expand, read_sweep(path), source=path).value
    assert e.file.endswith("sweep.yaml") and "moves.hukou_openness = 5.0" in str(e) and "less than or equal to 1" in str(e)
    path = sweep_file(tmp_path, toy, parameters={"grid": {"labour.commute_max_minutes": [90.0, 0.5]}})
    e = pytest.raises(RegionDataError, expand, read_sweep(path), source=path).value  # before any run, not run by run
    assert e.file.endswith("sweep.yaml") and "0.5 minutes is shorter than a trip within" in str(e)


def test_sensitivity_ranks_a_parameter_that_matters_above_one_that_does_not(client, toy, tmp_path):
    import yaml

    spec_path = tmp_path / "sa.yaml"
    spec_path.write_text(yaml.safe_dump({
        "region": str(toy), "method": "morris", "samples": 4, "levels": 4, "scale": 1.0, "end": 2026,
        "outputs": ["population"],
        "parameters": {"demography.tfr": [0.8, 2.5], "markets.pension_yuan": [10000, 30000], "moves.beta_urban": [0.2, 0.6]}}))
    spec = sa.read_spec(spec_path)
    X = sa.sample(spec)
    runs = sa.runs_for(spec, X, toy)
    summary = run_batch(runs, tmp_path / "runs", client=client)
    assert summary["failed"] == 0
    Y = sa.outputs_of(tmp_path / "runs", runs, spec.outputs, 2026)
    idx = sa.analyse(spec, X, Y).set_index("parameter")
    assert idx.loc["demography.tfr", "mu_star"] > 10 * idx.loc["markets.pension_yuan", "mu_star"]
    assert idx.loc["markets.pension_yuan", "mu_star"] == pytest.approx(0.0, abs=1e-9)
    png = sa.plot(idx.reset_index(), "morris", 2026, tmp_path / "s.png")
    assert png.stat().st_size > 5000


def test_bad_sensitivity_spec(tmp_path, toy):
    import yaml

    p = tmp_path / "sa.yaml"
    p.write_text(yaml.safe_dump({"region": str(toy), "outputs": ["happiness"], "parameters": {"demography.tfr": [1, 2], "moves.beta_urban": [0, 1]}}))
    with pytest.raises(RegionDataError, match="unknown output 'happiness'"):
        sa.read_spec(p)
    p.write_text(yaml.safe_dump({"region": str(toy), "parameters": {"demography.tfr": [2, 1], "moves.beta_urban": [0, 1]}}))
    with pytest.raises(RegionDataError, match="low < high"):
        sa.read_spec(p)
    p.write_text(yaml.safe_dump({"region": str(toy), "parameters": {"markets.job_growth": [0, 1], "moves.beta_urban": [0, 1]}}))
    with pytest.raises(RegionDataError, match="'markets.job_growth' takes several numbers; vary it by one number with "
                                              "'markets.job_growth.factor'"):
        sa.read_spec(p)
    p.write_text(yaml.safe_dump({"region": str(toy), "parameters": {"markets.job_growth.factor": [0.5, 1.5],
                                                                    "moves.beta_urban": [0, 1]}}))
    spec = sa.read_spec(p)
    runs = sa.runs_for(spec, sa.sample(spec), toy)
    assert {round(r.overrides["markets.job_growth.factor"], 6) for r in runs} <= {0.5, 0.833333, 1.166667, 1.5}
    p.write_text(yaml.safe_dump({"region": str(toy), "parameters": {"labour.commute_max_minutes": [0.5, 120],
                                                                    "moves.beta_urban": [0, 1]}}))
    spec = sa.read_spec(p)
    with pytest.raises(RegionDataError, match="0.5 minutes is shorter than a trip within"):
        sa.runs_for(spec, sa.sample(spec), toy)


def test_whole_number_parameters_run_at_whole_numbers(tmp_path, toy):
    """An ``int`` parameter (labour.retirement_age) must have whole Morris levels, or the spec is refused with the
    parameter named; Sobol's samples of it are rounded, and the runs carry ints."""
    import yaml

    p = tmp_path / "sa.yaml"
    base = {"region": str(toy), "levels": 4, "samples": 2, "outputs": ["population"]}
    p.write_text(yaml.safe_dump({**base, "parameters": {"labour.retirement_age": [60, 65], "moves.beta_urban": [0, 1]}}))
    with pytest.raises(RegionDataError, match="'labour.retirement_age' takes whole numbers"):
        sa.read_spec(p)
    p.write_text(yaml.safe_dump({**base, "parameters": {"labour.retirement_age": [60, 66], "moves.beta_urban": [0, 1]}}))
    spec = sa.read_spec(p)
    X = sa.sample(spec)
    assert sorted(set(X[:, 0])) == [60.0, 62.0, 64.0, 66.0]
    p.write_text(yaml.safe_dump({**base, "method": "sobol", "parameters": {"labour.retirement_age": [60, 65],
                                                                           "moves.beta_urban": [0, 1]}}))
    spec = sa.read_spec(p)
    X = sa.sample(spec)
    assert np.array_equal(X[:, 0], np.round(X[:, 0])) and len(set(X[:, 0])) > 2
    ages = {r.overrides["labour.retirement_age"] for r in sa.runs_for(spec, X, toy)}
    assert all(type(a) is int for a in ages)


def test_a_killed_drivers_half_written_file_is_removed_by_the_next_driver(tmp_path):
    """A driver killed while writing leaves ``.<file>.tmp-PID``; the next driver on the folder (holding its lock, so
    nothing else writes there) removes it, and leaves finished files alone."""
    from batch.store import ResultStore

    out = tmp_path / "b"
    with ResultStore(out):
        pass
    part = out / "county" / "scenario=baseline"
    part.mkdir(parents=True)
    leftover, finished = part / ".abc.parquet.tmp-999999", part / "def.parquet"
    leftover.write_bytes(b"half")
    finished.write_bytes(b"whole")
    with ResultStore(out):
        pass
    assert not leftover.exists() and finished.read_bytes() == b"whole"


def test_usable_workers_asks_the_scheduler_again_before_believing_none():
    """A failed or early query said "no worker"; the batch then stopped with a good worker running."""
    from types import SimpleNamespace

    from batch.engine import usable_workers

    answers = [OSError("timed out"), {"workers": {}}, {"workers": {"tcp://bad:1": {}, "tcp://good:2": {}}}]

    def identity(n_workers):
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a

    client = SimpleNamespace(scheduler=SimpleNamespace(identity=identity), sync=lambda f, **kw: f(**kw))
    assert usable_workers(client, {"tcp://bad:1"}) == ["tcp://good:2"] and not answers
    answers[:] = [{"workers": {"tcp://bad:1": {}}}] * 2
    assert usable_workers(client, {"tcp://bad:1"}, tries=2) == []
