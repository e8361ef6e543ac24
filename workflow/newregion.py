"""``run.py new-region``: a valid region folder from township outlines, every number a marked placeholder.

The skeleton loads, checks and runs as it is, so a new user can start from something that works and replace the
placeholders (each row's ``source_*`` column and each ``source`` key says ``estimated: placeholder``) with the
region's figures. docs/region-format.md describes every file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import networkx as nx
import pandas as pd
import yaml
from shapely.geometry import Point

from geo.region import RegionDataError, read_geometry, straight_km

PLACEHOLDER = "estimated: placeholder from run.py new-region; replace with the region's figure"
# China's 2020 census age structure (national): the start population's ages until the region's own are given
NATIONAL_AGES_2020 = {"age_0_14": 0.1795, "age_15_59": 0.6335, "age_60_plus": 0.1870}
NAME_COLUMNS = ("name_zh", "name", "NAME", "名称", "Name")


def utm_epsg(lon: float, lat: float) -> str:
    """The UTM zone's EPSG code for a point (metres, for distances and areas).

    >>> utm_epsg(120.5, 27.6), utm_epsg(-3.7, 40.4)
    ('EPSG:32651', 'EPSG:32630')
    """
    zone = int((lon + 180) // 6) + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def _read_outlines(path: Path, name_column: str | None) -> gpd.GeoDataFrame:
    gdf = read_geometry(Path(path), "township outlines, one polygon per township")
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if gdf.empty or not gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        raise RegionDataError(path, "expected one or more polygons, one per township")
    if name_column is not None and name_column not in gdf.columns:
        raise RegionDataError(path, f"no column {name_column!r} (columns: {', '.join(map(str, gdf.columns))})", field=name_column)
    if len(gdf) > MAX_TOWNSHIPS:
        raise RegionDataError(path, f"{len(gdf):,} polygons; expected at most {MAX_TOWNSHIPS:,} townships")
    check_polygons(path, gdf)
    return gdf.to_crs("EPSG:4326").reset_index(drop=True)


MAX_TOWNSHIPS = 2_000
OVERLAP_SHARE = 0.01  # townships may touch and overlap along digitised borders, not by more than 1% of the smaller


def check_polygons(path: Path, gdf: gpd.GeoDataFrame) -> None:
    """A clear error for an invalid polygon (self-intersecting, ...) or two townships that overlap by more than
    OVERLAP_SHARE of the smaller one (a polygon given twice, a district with its own townships); features are
    counted from 1 in the file's order.

    >>> from shapely.geometry import box
    >>> check_polygons(Path("t.geojson"), gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1), box(0, 0, 1, 1)]))
    Traceback (most recent call last):
    geo.errors.RegionDataError: t.geojson, field 'polygon 2': overlaps polygon 1 by 100% of its area (expected townships that do not overlap)
    """
    from shapely import STRtree
    from shapely.validation import explain_validity

    geoms = list(gdf.geometry)
    for i, g in enumerate(geoms):
        if not g.is_valid:
            raise RegionDataError(path, f"not a valid polygon: {explain_validity(g)} (repair it, e.g. with a GIS's "
                                        "'fix geometries')", field=f"polygon {i + 1}")
    tree = STRtree(geoms)
    for i, g in enumerate(geoms):
        for j in sorted(int(k) for k in tree.query(g, predicate="intersects")):
            if j >= i:
                continue
            shared = g.intersection(geoms[j]).area
            smaller = min(g.area, geoms[j].area)
            if smaller > 0 and shared > OVERLAP_SHARE * smaller:
                raise RegionDataError(path, f"overlaps polygon {j + 1} by {shared / smaller:.0%} of its area "
                                            "(expected townships that do not overlap)", field=f"polygon {i + 1}")


def scaffold_region(folder: Path, outlines: Path, year: int = 2020, name: str | None = None,
                    name_column: str | None = None) -> Path:
    """Write a new region folder: each polygon of ``outlines`` a township, ``year`` its census year.

    Parameters
    ----------
    folder : the new region folder (must not exist, or be empty).
    outlines : polygons of the townships (any CRS); their union is the outline.
    year : the census year of the placeholder populations.
    name : the region's name (default: the folder's name).
    name_column : the column with township names (default: the first of name_zh, name, NAME, 名称, Name present).

    Returns
    -------
    The folder. It holds region.yaml, townships.csv, economy.csv, outline.geojson, townships.gpkg, network/nodes.csv,
    network/edges.csv, scenarios/baseline.yaml and a README of what to replace; no params.yaml (the model's neutral
    defaults apply until one is written).

    Example
    -------
    >>> scaffold_region(Path("configs/newcity"), Path("districts.geojson"), year=2020)   # doctest: +SKIP
    """
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise RegionDataError(folder, "folder exists and is not empty (expected a new folder for the region)")
    gdf = _read_outlines(outlines, name_column)
    column = name_column or next((c for c in NAME_COLUMNS if c in gdf.columns), None)
    n = len(gdf)
    codes = [str(c) for c in gdf["code"]] if "code" in gdf.columns and gdf["code"].is_unique else [f"T{i + 1:02d}" for i in range(n)]
    names = [str(v) for v in gdf[column]] if column else codes
    centre = gdf.geometry.union_all().centroid
    metric = utm_epsg(centre.x, centre.y)
    m = gdf.to_crs(metric)
    seats = gpd.GeoSeries([g.representative_point() for g in m.geometry], crs=metric).to_crs("EPSG:4326")
    area = m.geometry.area / 1e6

    existed = folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "network").mkdir()
        (folder / "scenarios").mkdir()
        _write_tables(folder, codes, names, seats, area, year)
        _write_network(folder, codes, names, seats, m, metric, year)
        gpd.GeoDataFrame({"name": [name or folder.name]}, geometry=[gdf.geometry.union_all()], crs="EPSG:4326").to_file(
            folder / "outline.geojson", driver="GeoJSON")
        gpd.GeoDataFrame({"code": codes}, geometry=list(gdf.geometry), crs="EPSG:4326").to_file(folder / "townships.gpkg", driver="GPKG")
        _write_config(folder, name or folder.name, codes, metric, year)
        (folder / "scenarios" / "baseline.yaml").write_text(
            "name: baseline\ndescription: no levers (the region's own network and trends)\nlevers: []\n", encoding="utf-8")
        (folder / "README.md").write_text(_readme(name or folder.name, outlines, year), encoding="utf-8")
    except BaseException:  # remove what this call wrote; an empty folder the user made stays
        if existed:
            for child in folder.iterdir():
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
        else:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def _write_tables(folder: Path, codes, names, seats, area, year: int) -> None:
    pop, urban = 10000, 5000
    rows, eco = [], []
    for code, nm, seat, a in zip(codes, names, seats, area):
        rows.append({"code": code, "name_zh": nm, "name_en": nm if nm.isascii() else code, "kind": "town",
                     "lat": round(seat.y, 5), "lon": round(seat.x, 5), "area_km2": round(float(a), 2),
                     f"pop_{year}": pop, f"urban_pop_{year}": urban, "source_pop": PLACEHOLDER,
                     "source_coords": "estimated: a point inside the township polygon; replace with the seat"})
        eco.append({"code": code, "jobs_primary": 500, "jobs_secondary": 2000, "jobs_tertiary": 2500,
                    "housing_urban": round(urban / 2.6 / 0.9), "housing_rural": round((pop - urban) / 2.6 / 0.85),
                    "price_yuan_m2": 10000, "services": 0.5, "source": PLACEHOLDER})
    pd.DataFrame(rows).to_csv(folder / "townships.csv", index=False)
    pd.DataFrame(eco).to_csv(folder / "economy.csv", index=False)


def _km(a, b) -> float:
    return straight_km(a.x, a.y, b.x, b.y)


def _write_network(folder: Path, codes, names, seats, metric_gdf, metric: str, year: int) -> None:
    nodes = [{"id": c, "name": f"{nm} seat", "kind": "seat", "lat": round(s.y, 5), "lon": round(s.x, 5), "township": c}
             for c, nm, s in zip(codes, names, seats)]
    minx, miny, maxx, maxy = metric_gdf.total_bounds
    outside = gpd.GeoSeries([Point(maxx + 0.5 * (maxx - minx) + 10000, (miny + maxy) / 2)], crs=metric).to_crs("EPSG:4326")[0]
    nodes.append({"id": "OUTSIDE", "name": "outside the region (placeholder)", "kind": "external", "lat": round(outside.y, 5),
                  "lon": round(outside.x, 5), "township": ""})
    # local roads: a minimum spanning tree of the seats plus each seat's nearest neighbour, so the network is connected
    g = nx.Graph()
    for i in range(len(codes)):
        for j in range(i + 1, len(codes)):
            g.add_edge(i, j, km=_km(seats[i], seats[j]))
    links = set(nx.minimum_spanning_tree(g, weight="km").edges()) if len(codes) > 1 else set()
    for i in range(len(codes)):
        others = [j for j in range(len(codes)) if j != i]
        if others:
            j = min(others, key=lambda k: _km(seats[i], seats[k]))
            links.add((min(i, j), max(i, j)))
    edges = [{"id": f"road_{codes[i]}_{codes[j]}", "from": codes[i], "to": codes[j], "mode": "local",
              "length_km": round(max(_km(seats[i], seats[j]) * 1.3, 0.5), 2), "speed_kmh": 40, "open_year": year - 30,
              "close_year": "", "project": "local road (placeholder)", "source": PLACEHOLDER} for i, j in sorted(links)]
    near = min(range(len(codes)), key=lambda k: _km(seats[k], outside))
    edges.append({"id": "road_outside", "from": codes[near], "to": "OUTSIDE", "mode": "trunk",
                  "length_km": round(_km(seats[near], outside) * 1.3, 2), "speed_kmh": 60, "open_year": year - 30,
                  "close_year": "", "project": "road out of the region (placeholder)", "source": PLACEHOLDER})
    pd.DataFrame(nodes).to_csv(folder / "network" / "nodes.csv", index=False)
    pd.DataFrame(edges).to_csv(folder / "network" / "edges.csv", index=False)


def _write_config(folder: Path, name: str, codes, metric: str, year: int) -> None:
    cfg = {
        "name": name,
        "crs": {"input": "EPSG:4326", "metric": metric},
        "files": {"townships": "townships.csv", "economy": "economy.csv", "outline": "outline.geojson",
                  "polygons": "townships.gpkg", "nodes": "network/nodes.csv", "edges": "network/edges.csv"},
        "groups": {"main_centre": {"label": "main centre (placeholder: choose the region's centre)", "members": [codes[0]],
                                   "source": PLACEHOLDER}},
        "external_zones": [{"id": "outside", "name": "outside the region", "node": "OUTSIDE", "population": 1000000,
                            "labour_market": False, "source": PLACEHOLDER}],
        "census": {year: {"population": {"value": 10000 * len(codes), "source": PLACEHOLDER},
                          **{k: {"value": v, "source": "China 2020 census, national age structure (placeholder: give the region's)"}
                             for k, v in NATIONAL_AGES_2020.items()}}},
        "targets": {},
        "routing": {"boarding_minutes": {"rail": {"value": 20, "source": PLACEHOLDER}},
                    "intrazonal_speed_kmh": {"value": 25, "source": PLACEHOLDER},
                    "gravity_decay_per_min": {"value": 0.05, "source": PLACEHOLDER},
                    "accessibility_thresholds_min": [15, 30, 60]},
    }
    text = ("# Written by run.py new-region: every value is a placeholder marked in its source. "
            "docs/region-format.md describes each key.\n" + yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    (folder / "region.yaml").write_text(text, encoding="utf-8")


def _readme(name: str, outlines: Path, year: int) -> str:
    return f"""# {name}

Made by `run.py new-region` from `{outlines}`: one township per polygon, census year {year}. It loads and runs as
it is, but every number is a placeholder (its source says so). Replace, in this order:

1. `townships.csv`: the seats (lat, lon), names, and `pop_{year}`, `urban_pop_{year}` from the census; add a
   `pop_YYYY`/`urban_pop_YYYY` pair for each further census year.
2. `region.yaml`: `census.{year}` (population and the 0-14 / 15-59 / 60+ shares), the township groups, the external
   zones (where migrants come from and go to) with their nodes, the plan's `targets`, routing settings.
3. `economy.csv`: jobs by sector, housing units, price and service score per township.
4. `network/`: the real roads and rail lines with opening years (the placeholder roads join each seat to its
   neighbours).
5. `params.yaml`: the region's parameters; until it exists the model's neutral defaults apply, and
   `run.py check-config` lists every parameter taken from them.

Check with `python run.py check-config <this folder>`; the format of every file is in docs/region-format.md.
"""
