"""Results as GIS layers: a run or compare folder's township results joined to the region's polygons, written as
one GeoPackage that QGIS, ArcGIS or geopandas opens directly (``run.py export``).

The layers are tables a planner maps without further joins:

- ``townships``: one feature per township and year (per scenario too, for a compare folder, as the mean over its
  runs), with every column of ``townships.csv`` and the derived share of the region, urban share, density and
  change since the start year;
- ``change`` (a run): one feature per township with its residents in the start year, the plan's target years and
  the end year, its share then and its change;
- ``difference`` (a compare): one feature per scenario, township and target year with the paired difference from
  the reference scenario, its 90% interval and whether it is beyond seed noise (as ``compare`` and the report say);
- ``townships`` of a batch (``run.py batch``): one feature per scenario, parameter set, township and year, the mean
  over the set's runs (its seeds), with the swept values as ``param:<name>`` columns and the whole set as JSON in
  ``parameters``;
- ``provenance``: a table without geometry recording the folder, region, scenario(s), seeds, scale and version.

Counts are at full scale, as in the CSV files. Geometry is in the CRS of the region's input files
(``crs.input`` of region.yaml).

Example
-------
>>> path = export_folder(Path("runs/baseline"), load_region("configs/<region>"))     # doctest: +SKIP
>>> gpd.read_file(path, layer="change").plot("change_pct")                           # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd

from geo.errors import RegionDataError
from workflow.compare import noise_verdict, township_difference
from workflow.io import check_result_townships, folder_kind, read_record, read_result

GPKG_NAME = "townships.gpkg"
# columns that identify a row rather than measure something: never averaged over runs
KEYS = ("year", "township", "scenario", "seed", "member")


def report_years(region, start: int, end: int) -> list[int]:
    """The start year, the plan's target years within the run and the end year, in order (the years the run's
    table of where people live prints).

    >>> report_years(region, 2020, 2035)   # doctest: +SKIP
    [2020, 2025, 2030, 2035]
    """
    targets = {y for t in region.config.targets.values() for y in t.by_year if start < y <= end}
    return sorted({start, end} | targets)


def _places(region) -> gpd.GeoDataFrame:
    """The township polygons with their names and areas, in the region's input CRS, in table order."""
    poly = region.polygons
    area = (poly.geometry.area / 1e6).rename("area_km2")
    names = pd.DataFrame({"township": region.codes,
                          "name_zh": [t.name_zh for t in region.townships],
                          "name_en": [t.name_en for t in region.townships]}).set_index("township")
    out = gpd.GeoDataFrame(names.join(area), geometry=poly.geometry.reindex(names.index), crs=poly.crs)
    return out.to_crs(region.config.crs.input)


def _derived(table: pd.DataFrame, area: pd.Series, by: list[str]) -> pd.DataFrame:
    """Share of the region's residents, urban share, density and change since the first year, per row."""
    t = table.copy()
    total = t.groupby(by)["population"].transform("sum")
    t["share"] = t.population / total.where(total > 0)
    t["urban_share"] = t.urban_population / t.population.where(t.population > 0)
    t["density_km2"] = t.population / t.township.map(area)
    for col in ("aged0_14", "aged60"):  # runs made before the township age groups have none
        if col in t:
            t[f"{col}_share"] = t[col] / t.population.where(t.population > 0)
    groups = [b for b in by if b != "year"]
    first = t.loc[t.year == t.year.min(), [*groups, "township", "population"]].rename(columns={"population": "_start"})
    t = t.merge(first, on=[*groups, "township"], how="left")
    start = t.pop("_start")
    t["change"] = t.population - start
    t["change_pct"] = 100 * t.change / start.where(start > 0)
    return t


def _join(places: gpd.GeoDataFrame, table: pd.DataFrame, front: list[str]) -> gpd.GeoDataFrame:
    """``table`` (one row per feature, a ``township`` column) with the township's names, area and polygon."""
    joined = table.merge(places.drop(columns="geometry").reset_index(), on="township", how="left")
    geometry = places.geometry.reindex(joined.township.to_numpy()).to_numpy()
    order = [*front, "township", "name_zh", "name_en", "area_km2"]
    joined = joined[order + [c for c in joined.columns if c not in order]]
    return gpd.GeoDataFrame(joined.reset_index(drop=True), geometry=list(geometry), crs=places.crs)


def run_layers(region, towns: pd.DataFrame) -> dict[str, gpd.GeoDataFrame]:
    """The layers of one run: ``townships`` (township × year) and ``change`` (township).

    Parameters
    ----------
    region : the loaded region the run was made from.
    towns : the run's ``townships.csv`` (checked: every township once a year).

    Returns
    -------
    layer name -> GeoDataFrame.

    Example
    -------
    >>> run_layers(region, pd.read_csv("runs/baseline/townships.csv", dtype={"township": str}))["change"].columns[:5].tolist()  # doctest: +SKIP
    ['township', 'name_zh', 'name_en', 'area_km2', 'pop_2020']
    """
    places = _places(region)
    area = places.area_km2
    long = _derived(towns, area, ["year"])
    start, end = int(towns.year.min()), int(towns.year.max())
    years = report_years(region, start, end)
    pop = towns.pivot(index="township", columns="year", values="population")
    urban = towns.pivot(index="township", columns="year", values="urban_population")
    wide = pd.DataFrame({f"pop_{y}": pop[y] for y in years})
    for y in (start, end):
        wide[f"share_{y}"] = pop[y] / pop[y].sum()
    wide[f"share_change_pt_{start}_{end}"] = 100 * (wide[f"share_{end}"] - wide[f"share_{start}"])
    wide["change"] = pop[end] - pop[start]
    wide["change_pct"] = 100 * wide.change / pop[start].where(pop[start] > 0)
    for y in (start, end):
        wide[f"urban_share_{y}"] = urban[y] / pop[y].where(pop[y] > 0)
    if "aged60" in towns:
        old = towns.pivot(index="township", columns="year", values="aged60")
        for y in (start, end):
            wide[f"aged60_share_{y}"] = old[y] / pop[y].where(pop[y] > 0)
    wide["density_km2"] = pop[end] / area.reindex(pop.index)
    return {"townships": _join(places, long, ["year"]),
            "change": _join(places, wide.reset_index(), [])}


def compare_layers(region, towns: pd.DataFrame, scenarios: list[str], years: list[int]) -> dict[str, gpd.GeoDataFrame]:
    """The layers of a compare: ``townships`` (scenario × township × year, the mean over the scenario's runs, with
    the 5% and 95% of residents) and ``difference`` (each scenario against the first, paired by seed, in ``years``).

    Parameters
    ----------
    region : the loaded region the runs were made from.
    towns : the compare's ``townships_runs.csv`` (checked: every township once per scenario, seed and year).
    scenarios : in order; the first is the reference.
    years : the years of the ``difference`` layer.

    Example
    -------
    >>> layers = compare_layers(region, towns, ["baseline", "wenfu_hsr"], [2025, 2035])   # doctest: +SKIP
    >>> layers["difference"].verdict.unique().tolist()                                    # doctest: +SKIP
    ['within', 'beyond']
    """
    places = _places(region)
    measures = [c for c in towns.columns if c not in KEYS and pd.api.types.is_numeric_dtype(towns[c])]
    runs = towns.groupby(["scenario", "year", "township"], sort=False)
    mean = runs[measures].mean()
    spread = runs["population"].quantile([0.05, 0.95]).unstack()
    mean["population_p05"], mean["population_p95"] = spread[0.05], spread[0.95]
    mean["runs"] = runs.size()
    mean = mean.reset_index()
    mean["scenario"] = pd.Categorical(mean.scenario, scenarios, ordered=True)
    mean = mean.sort_values(["scenario", "year"], kind="stable")
    mean["scenario"] = mean.scenario.astype(str)
    long = _derived(mean, places.area_km2, ["scenario", "year"])
    rows = []
    reference = scenarios[0]
    for y in years:
        d = township_difference(towns, scenarios, y)
        d = d[d.scenario != reference].copy()
        ref = d.township.map(mean[(mean.scenario == reference) & (mean.year == y)].set_index("township").population)
        d.insert(0, "year", y)
        d.insert(2, "reference", reference)
        d.insert(d.columns.get_loc("population") + 1, "reference_population", ref)
        d["verdict"] = [noise_verdict(lo, hi, int(n)) for lo, hi, n in zip(d.diff_p05, d.diff_p95, d.pairs)]
        rows.append(d)
    layers = {"townships": _join(places, long, ["scenario", "year"])}
    if rows and len(scenarios) > 1:
        layers["difference"] = _join(places, pd.concat(rows, ignore_index=True), ["scenario", "reference", "year"])
    return layers


def batch_layers(region, towns: pd.DataFrame, scenarios: list[str]) -> dict[str, gpd.GeoDataFrame]:
    """The layer of a batch: ``townships``, one feature per scenario, parameter set, year and township, the mean over
    the set's runs (the seeds), with the 5% and 95% of residents, the number of runs and the swept values.

    Parameters
    ----------
    region : the loaded region the batch was run on.
    towns : the batch's ``townships`` dataset (checked: every township once per run and year), with ``scenario``,
        ``run_id``, ``parameters`` (JSON) and one ``param:<name>`` column per swept parameter.
    scenarios : the sweep's scenarios, in order.

    Example
    -------
    >>> layer = batch_layers(region, pd.read_parquet("runs/batch/townships"), ["baseline", "s3_phase2"])["townships"]  # doctest: +SKIP
    >>> layer[layer.year == 2035].groupby("param:moves.beta_access").share.max()                                  # doctest: +SKIP
    """
    places = _places(region)
    swept = [c for c in towns.columns if c.startswith("param:")]
    skip = {*KEYS, "run_id", "scale", "parameters", *swept}
    measures = [c for c in towns.columns if c not in skip and pd.api.types.is_numeric_dtype(towns[c])]
    runs = towns.groupby(["scenario", "parameters", "year", "township"], sort=False, observed=True)
    mean = runs[measures].mean()
    spread = runs["population"].quantile([0.05, 0.95]).unstack()
    mean["population_p05"], mean["population_p95"] = spread[0.05], spread[0.95]
    mean["runs"] = runs.size()
    for c in swept:  # one value per parameter set
        mean[c] = runs[c].first()
    mean = mean.reset_index()
    mean["scenario"] = pd.Categorical(mean.scenario.astype(str), scenarios, ordered=True)
    mean = mean.sort_values(["scenario", "parameters", "year"], kind="stable")
    mean["scenario"] = mean.scenario.astype(str)
    long = _derived(mean, places.area_km2, ["scenario", "parameters", "year"])
    return {"townships": _join(places, long, ["scenario", *swept, "parameters", "year"])}


def provenance_table(folder: Path, meta: dict, keys: list[str]) -> pd.DataFrame:
    """The record's ``keys`` as a two-column table (``key``, ``value``; lists and mappings as JSON), with the folder."""
    rows = [("folder", str(Path(folder).resolve()))]
    for k in keys:
        if k in meta:
            v = meta[k]
            rows.append((k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)))
    return pd.DataFrame(rows, columns=["key", "value"])


RUN_RECORD = ["region", "region_fingerprint", "region_name", "scenario", "start", "end", "seed", "scale", "version",
              "git_commit", "git_dirty", "parameter_overrides"]
COMPARE_RECORD = ["region", "region_fingerprint", "scenarios", "reference", "seeds", "scale", "start", "end",
                  "common_random_numbers", "parameter_sets", "version", "git_commit", "git_dirty"]
BATCH_RECORD = ["sweep_file", "region", "scenarios", "parameters", "seeds", "scale", "start", "end", "runs", "version",
                "git_commit", "git_dirty"]


def folder_layers(folder: Path, region) -> tuple[dict[str, gpd.GeoDataFrame], pd.DataFrame]:
    """Read a run, compare or batch folder (every file checked before use) and build its layers and provenance table.

    Raises
    ------
    RegionDataError naming the file, line and field of anything missing, damaged or not of this region.
    """
    folder = Path(folder)
    kind = folder_kind(folder)
    if kind == "batch":
        meta = read_record(folder / "sweep.json", ("sweep",))
        record = {**(meta["sweep"] if isinstance(meta["sweep"], dict) else {}), **meta}
        path = folder / "townships"
        if not path.is_dir():
            raise RegionDataError(path, "not found: the batch has no finished run (expected the results run.py batch "
                                        "writes; see its registry.parquet for failed runs)")
        towns = read_result(path, ("year", "township", "scenario", "run_id", "population", "urban_population"),
                            text=("township", "scenario", "run_id", "parameters"), numeric=True)
        check_result_townships(path, towns, region.codes, by=("run_id", "year"), region_name=region.config.name)
        listed = [str(s) for s in record.get("scenarios", [])] if isinstance(record.get("scenarios"), list) else []
        present = list(dict.fromkeys(towns.scenario))
        scenarios = [s for s in listed if s in present] + [s for s in present if s not in listed]
        return batch_layers(region, towns, scenarios), provenance_table(folder, record, BATCH_RECORD)
    if kind == "compare":
        meta = read_record(folder / "compare.json", ("scenarios", "reference", "start", "end"))
        path = folder / "townships_runs.csv"
        towns = read_result(path, ("year", "township", "scenario", "seed", "population", "urban_population"),
                            text=("township", "scenario"), numeric=True)
        check_result_townships(path, towns, region.codes, by=("scenario", "seed", "year"), region_name=region.config.name)
        scenarios = [s for s in meta["scenarios"] if s in set(towns.scenario)]
        if not scenarios or scenarios[0] != meta["reference"]:
            raise RegionDataError(path, f"no runs of the reference scenario {meta['reference']!r}; expected the file "
                                        "as run.py compare wrote it")
        years = [y for y in report_years(region, int(meta["start"]), int(meta["end"])) if y > int(meta["start"])]
        return compare_layers(region, towns, scenarios, years), provenance_table(folder, meta, COMPARE_RECORD)
    meta = read_record(folder / "run.json")
    path = folder / "townships.csv"
    towns = read_result(path, ("year", "township", "population", "urban_population"), text=("township",), numeric=True)
    check_result_townships(path, towns, region.codes, region_name=region.config.name)
    return run_layers(region, towns), provenance_table(folder, meta, RUN_RECORD)


def write_gpkg(path: Path, layers: dict[str, gpd.GeoDataFrame], provenance: pd.DataFrame) -> Path:
    """Write the layers and the provenance table into one new GeoPackage at ``path`` (which must not exist)."""
    import pyogrio

    for name, layer in layers.items():
        pyogrio.write_dataframe(layer, path, layer=name, driver="GPKG", append=path.exists())
    pyogrio.write_dataframe(provenance, path, layer="provenance", driver="GPKG", append=True)
    return path


def export_folder(folder: Path, region) -> Path:
    """Write ``<folder>/gis/townships.gpkg`` from a run, compare or batch folder (atomically: the ``gis`` folder appears
    complete or not at all, and replaces only an earlier export); return the GeoPackage's path.

    Example
    -------
    >>> export_folder(Path("runs/baseline"), load_region("configs/<region>"))   # doctest: +SKIP
    PosixPath('runs/baseline/gis/townships.gpkg')
    """
    from workflow.io import atomic_folder
    from workflow.outdir import check_own_folder

    check_own_folder(Path(folder) / "gis", "export")
    layers, provenance = folder_layers(folder, region)
    with atomic_folder(Path(folder) / "gis", "export") as tmp:
        write_gpkg(tmp / GPKG_NAME, layers, provenance)
    return Path(folder) / "gis" / GPKG_NAME
