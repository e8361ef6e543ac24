"""`run.py export`: a run's or compare's township results as GIS layers, checked against the CSV files they come
from, and refused (one line, nothing written) where the folder is damaged or not of the region."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyogrio
import pytest

from geo.region import load_region
from test_hostile import check
from toy import write_scenario
from workflow.compare import noise_verdict, township_difference


def _layer(path, name):
    return pyogrio.read_dataframe(path, layer=name)


def test_a_runs_layers_hold_its_results_on_the_regions_polygons(toy, tmp_path, capsys):
    out = tmp_path / "r"
    check(["run", "--region", toy, "--scale", "0.5", "--end", "2026", "--seed", "3", "--out", out], capsys, 0)
    check(["export", out], capsys, 0, "townships (21)", "change (3)")
    gpkg = out / "gis" / "townships.gpkg"
    assert sorted(name for name, _ in pyogrio.list_layers(gpkg)) == ["change", "provenance", "townships"]

    towns = pd.read_csv(out / "townships.csv", dtype={"township": str})
    layer = _layer(gpkg, "townships")
    assert len(layer) == len(towns) == 3 * 7
    both = layer.merge(towns, on=["year", "township"], suffixes=("", "_csv"))
    for col in ("population", "urban_population", "jobs", "housing_units", "out_moves"):
        np.testing.assert_allclose(both[col], both[f"{col}_csv"])
    np.testing.assert_allclose(layer.groupby("year").share.sum(), 1.0)
    np.testing.assert_allclose(layer.urban_share, layer.urban_population / layer.population)
    np.testing.assert_allclose(layer.aged60_share, layer.aged60 / layer.population)
    start = layer[layer.year == 2020].set_index("township").population
    np.testing.assert_allclose(layer.change, layer.population - layer.township.map(start))

    region = load_region(toy)
    assert layer.crs == "EPSG:4326"  # the region's input CRS, as its files are
    areas = layer.drop_duplicates("township").set_index("township").area_km2
    np.testing.assert_allclose(areas[region.codes], region.area_km2()[region.codes])
    names = dict(zip(layer.township, layer.name_en))
    assert names == {t.code: t.name_en for t in region.townships}

    change = _layer(gpkg, "change").set_index("township")
    pop = towns.pivot(index="township", columns="year", values="population")
    # the start, the toy's one target year within the run (2025) and the end
    assert [c for c in change.columns if c.startswith("pop_")] == ["pop_2020", "pop_2025", "pop_2026"]
    np.testing.assert_allclose(change.change, pop[2026] - pop[2020])
    np.testing.assert_allclose(change.share_2026, pop[2026] / pop[2026].sum())
    old = towns.pivot(index="township", columns="year", values="aged60")
    np.testing.assert_allclose(change.aged60_share_2026, old[2026] / pop[2026])
    assert change.geometry.is_valid.all() and (~change.geometry.is_empty).all()

    record = _layer(gpkg, "provenance").set_index("key").value
    assert record["seed"] == "3" and record["scale"] == "0.5" and record["version"]


def test_a_compares_layers_hold_the_paired_differences(toy, tmp_path, capsys):
    out = tmp_path / "c"
    write_scenario(toy, "more_jobs", [{"type": "jobs", "township": "B", "sector": "secondary", "jobs": 300, "year": 2021}])
    check(["compare", "--region", toy, "--scenarios", "baseline", "more_jobs", "--seeds", "5", "--scale", "0.5",
           "--end", "2026", "--out", out], capsys, 0)
    check(["export", out], capsys, 0, "difference (6)")
    gpkg = out / "gis" / "townships.gpkg"
    runs = pd.read_csv(out / "townships_runs.csv", dtype={"township": str})

    layer = _layer(gpkg, "townships")
    assert len(layer) == 2 * 3 * 7 and set(layer.runs) == {5}
    mean = runs.groupby(["scenario", "year", "township"]).population.mean()
    got = layer.set_index(["scenario", "year", "township"]).population
    np.testing.assert_allclose(got, mean[got.index])
    assert (layer.population_p05 <= layer.population).all() and (layer.population <= layer.population_p95).all()

    diff = _layer(gpkg, "difference")
    assert set(diff.scenario) == {"more_jobs"} and set(diff.reference) == {"baseline"}
    assert sorted(set(diff.year)) == [2025, 2026]
    written = pd.read_csv(out / "township_difference_2026.csv", dtype={"township": str})
    written = written[written.scenario == "more_jobs"].set_index("township")
    last = diff[diff.year == 2026].set_index("township")
    for col in ("diff_mean", "diff_p05", "diff_p95", "pairs"):
        np.testing.assert_allclose(last[col], written.loc[last.index, col])
    again = township_difference(runs, ["baseline", "more_jobs"], 2025).query("scenario == 'more_jobs'").set_index("township")
    first = diff[diff.year == 2025].set_index("township")
    np.testing.assert_allclose(first.diff_mean, again.loc[first.index, "diff_mean"])
    assert list(diff.verdict) == [noise_verdict(lo, hi, n) for lo, hi, n in zip(diff.diff_p05, diff.diff_p95, diff.pairs)]
    np.testing.assert_allclose(diff.population - diff.reference_population, diff.diff_mean, atol=1e-6)


def _rename_township(path, old, new):
    lines = path.read_text().splitlines()
    lines = [lines[0]] + [line.replace(f",{old},", f",{new},", 1) for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("command", ["export", "report"])
def test_a_result_of_another_region_is_refused_before_anything_is_written(toy, tmp_path, capsys, command):
    """A townships.csv with a code the region does not have ended the report in an internal error (KeyError)."""
    out = tmp_path / "r"
    check(["run", "--region", toy, "--scale", "0.5", "--end", "2021", "--out", out], capsys, 0)
    _rename_township(out / "townships.csv", "C", "Z")
    check([command, out], capsys, 2, "townships.csv, line 4, field 'township': 'Z' is not a township of Toy County",
          "another region")
    assert not (out / "gis").exists() and not (out / "report").exists()


def test_a_result_made_before_the_region_gained_a_township_says_so(toy, tmp_path, capsys):
    out = tmp_path / "r"
    check(["run", "--region", toy, "--scale", "0.5", "--end", "2021", "--out", out], capsys, 0)
    towns = pd.read_csv(out / "townships.csv", dtype={"township": str})
    towns[towns.township != "C"].to_csv(out / "townships.csv", index=False)
    check(["export", out], capsys, 2, "Toy County has township 'C' but the results have no row for it",
          "has its township table changed since?")


@pytest.mark.parametrize("damage,needle", [
    (lambda lines: lines[:-1], "no row for township C in year 2021"),
    (lambda lines: lines + [lines[-1]], "line 8, field 'township': township C appears twice for year 2021"),
])
def test_a_damaged_township_table_is_one_line(toy, tmp_path, capsys, damage, needle):
    out = tmp_path / "r"
    check(["run", "--region", toy, "--scale", "0.5", "--end", "2021", "--out", out], capsys, 0)
    path = out / "townships.csv"
    path.write_text("\n".join(damage(path.read_text().splitlines())) + "\n")
    check(["export", out], capsys, 2, needle, "damaged or cut short")


def test_export_keeps_what_it_did_not_write_and_replaces_its_own(toy, tmp_path, capsys):
    out = tmp_path / "r"
    check(["run", "--region", toy, "--scale", "0.5", "--end", "2021", "--out", out], capsys, 0)
    (out / "gis").mkdir()
    (out / "gis" / "my_map.qgz").write_text("a QGIS project of the user's")
    check(["export", out], capsys, 2, "`run.py export` writes its results here", "move or rename it first")
    assert (out / "gis" / "my_map.qgz").read_text() == "a QGIS project of the user's"

    (out / "gis" / "my_map.qgz").unlink()
    check(["export", out], capsys, 0)
    first = (out / "gis" / "townships.gpkg").stat().st_mtime_ns
    check(["export", out], capsys, 0)  # its own earlier export is replaced
    assert (out / "gis" / "townships.gpkg").stat().st_mtime_ns >= first
    assert sorted(p.name for p in (out / "gis").iterdir()) == [".migrasim-output", "townships.gpkg"]


def test_export_with_another_region_named(toy, tmp_path, capsys):
    """--region overrides the recorded region: a folder moved to another machine can be exported against a copy."""
    out = tmp_path / "r"
    check(["run", "--region", toy, "--scale", "0.5", "--end", "2021", "--out", out], capsys, 0)
    moved = tmp_path / "elsewhere"
    toy.rename(moved)
    check(["export", out], capsys, 2, "region folder not found")
    check(["export", out, "--region", moved], capsys, 0)


def _batch(toy, tmp_path, capsys):
    import yaml

    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"region": str(toy), "scenarios": ["baseline"], "seeds": 2, "scale": 0.5,
                                     "start": 2020, "end": 2022,
                                     "parameters": {"grid": {"moves.beta_access": [1.0, 1.4]}}}), encoding="utf-8")
    out = tmp_path / "b"
    check(["batch", sweep, "--out", out, "--workers", "1"], capsys, 0)
    return out


def test_a_batchs_layer_is_the_mean_of_each_parameter_sets_seeds(toy, tmp_path, capsys):
    out = _batch(toy, tmp_path, capsys)
    check(["export", out], capsys, 0, "(batch;", "(18), provenance")  # 2 parameter sets x 3 years x 3 townships
    gpkg = out / "gis" / "townships.gpkg"
    layer = _layer(gpkg, "townships")
    runs = pd.read_parquet(out / "townships")
    expected = runs.groupby(["param:moves.beta_access", "year", "township"]).population.mean()
    got = layer.set_index(["param:moves.beta_access", "year", "township"]).population
    np.testing.assert_allclose(got.sort_index(), expected.sort_index())
    assert set(layer["param:moves.beta_access"]) == {1.0, 1.4} and (layer.runs == 2).all()
    assert (layer.scenario == "baseline").all() and layer.parameters.str.contains("moves.beta_access").all()
    np.testing.assert_allclose(layer.groupby(["parameters", "year"]).share.sum(), 1.0)
    assert (layer.population_p05 <= layer.population).all() and (layer.population <= layer.population_p95).all()
    assert layer.geometry.is_valid.all() and layer.crs == "EPSG:4326"
    record = _layer(gpkg, "provenance").set_index("key").value
    assert record["scale"] == "0.5" and record["runs"] == "4" and record["sweep_file"].endswith("sweep.yaml")


def test_a_damaged_or_empty_batch_is_one_line_and_has_no_report(toy, tmp_path, capsys):
    out = _batch(toy, tmp_path, capsys)
    check(["report", out], capsys, 2, "a batch folder, which has no report", "run.py export")
    part = next((out / "townships").rglob("*.parquet"))
    table = pd.read_parquet(part)
    table.loc[table.township == "C", "township"] = "Z"
    table.to_parquet(part, index=False)
    check(["export", out], capsys, 2, "'Z' is not a township of Toy County")
    assert not (out / "gis").exists()
    import shutil

    shutil.rmtree(out / "townships")
    check(["export", out], capsys, 2, "townships: not found: the batch has no finished run")
    assert not (out / "gis").exists()
