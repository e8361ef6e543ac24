"""A small toy region written to a folder, for fast tests (3 townships in a 30 x 20 km county)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import yaml
from shapely.geometry import box

# Square county around (120.0E, 30.0N) in a UTM zone; seats in lon/lat.
METRIC = "EPSG:32651"
TOWNS = [
    # code, name, lon, lat, pop_2010, pop_2020, urban_2010, urban_2020
    ("A", "Alpha", 119.95, 30.00, 5000, 6000, 3000, 4000),
    ("B", "Beta", 120.05, 30.00, 3000, 3000, 1000, 1200),
    ("C", "Gamma", 120.10, 30.05, 2000, 1500, 300, 300),
]


def config() -> dict:
    return {
        "name": "Toy County",
        "crs": {"input": "EPSG:4326", "metric": METRIC},
        "files": {"townships": "townships.csv", "economy": "economy.csv", "outline": "outline.geojson",
                  "polygons": "townships.gpkg", "nodes": "nodes.csv", "edges": "edges.csv",
                  "projects": "projects.csv"},
        "groups": {"main_centre": {"label": "centre", "members": ["A"], "source": "toy"},
                   "west": {"label": "west", "members": ["B", "C"], "source": "toy"}},
        "external_zones": [{"id": "city", "name": "City", "node": "X", "population": 1000000, "source": "toy"}],
        "census": {2010: {"population": {"value": 10000, "source": "toy"}, "urbanisation": {"value": 0.43, "source": "toy"},
                          "age_0_14": {"value": 0.18, "source": "toy"}, "age_15_59": {"value": 0.67, "source": "toy"},
                          "age_60_plus": {"value": 0.15, "source": "toy"}},
                   2020: {"population": {"value": 10500, "source": "toy"},
                          "age_0_14": {"value": 0.16, "source": "toy"}, "age_15_59": {"value": 0.64, "source": "toy"},
                          "age_60_plus": {"value": 0.20, "source": "toy"}}},
        "targets": {"primacy": {"label": "primacy", "unit": "share", "kind": "min", "by_year": {2025: 0.6}, "source": "toy"}},
        "routing": {"boarding_minutes": {"rail": {"value": 10, "source": "toy"}},
                    "intrazonal_speed_kmh": {"value": 30, "source": "toy"},
                    "gravity_decay_per_min": {"value": 0.05, "source": "toy"},
                    "accessibility_thresholds_min": [15, 30, 60]},
        "time_circles": [{"id": "t30", "label": "30 min to centre", "from": "all", "to": {"group": "main_centre"},
                          "minutes": 30, "source": "toy"}],
    }


def write_toy_region(folder: Path, with_polygons: bool = True) -> Path:
    """Write a valid toy region into ``folder`` and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "region.yaml").write_text(yaml.safe_dump(config(), allow_unicode=True, sort_keys=False), encoding="utf-8")
    pd.DataFrame([dict(code=c, name_zh=n, name_en=n, kind="town", lat=la, lon=lo, area_km2="", pop_2010=p10, pop_2020=p20,
                       urban_pop_2010=u10, urban_pop_2020=u20) for c, n, lo, la, p10, p20, u10, u20 in TOWNS]
                 ).to_csv(folder / "townships.csv", index=False)
    pd.DataFrame([dict(code=c, jobs_primary=100, jobs_secondary=p20 // 4, jobs_tertiary=p20 // 4, housing_urban=u20 // 2,
                       housing_rural=(p20 - u20) // 2, price_yuan_m2=10000, services=0.5)
                  for c, n, lo, la, p10, p20, u10, u20 in TOWNS]).to_csv(folder / "economy.csv", index=False)
    outline = gpd.GeoSeries([box(119.90, 29.93, 120.16, 30.10)], crs="EPSG:4326")
    gpd.GeoDataFrame({"name": ["toy"]}, geometry=outline).to_file(folder / "outline.geojson", driver="GeoJSON")
    nodes = [dict(id=c, name=n, kind="seat", lat=la, lon=lo, township=c) for c, n, lo, la, *_ in TOWNS]
    nodes += [dict(id="S", name="Station", kind="station", lat=30.02, lon=120.0, township="A"),
              dict(id="X", name="City", kind="external", lat=30.30, lon=120.0, township="")]
    pd.DataFrame(nodes).to_csv(folder / "nodes.csv", index=False)
    edges = [
        dict(id="ab", **{"from": "A", "to": "B"}, mode="local", length_km=10, speed_kmh=30, open_year=1990, close_year="", project="road", source="toy"),
        dict(id="bc", **{"from": "B", "to": "C"}, mode="local", length_km=8, speed_kmh=30, open_year=1990, close_year="", project="road", source="toy"),
        dict(id="as", **{"from": "A", "to": "S"}, mode="local", length_km=2, speed_kmh=30, open_year=1990, close_year="", project="road", source="toy"),
        dict(id="sx", **{"from": "S", "to": "X"}, mode="rail", length_km=30, speed_kmh=120, open_year=2000, close_year="", project="rail", source="toy"),
        dict(id="ac", **{"from": "A", "to": "C"}, mode="trunk", length_km=16, speed_kmh=80, open_year=2026, close_year="", project="new fast link", source="toy"),
    ]
    pd.DataFrame(edges).to_csv(folder / "edges.csv", index=False)
    pd.DataFrame([
        dict(id="cx", key="cx", **{"from": "C", "to": "X"}, mode="trunk", length_km=40, speed_kmh=80, replaces="", project="planned road", source="toy"),
        dict(id="bc2", key="bc_upgrade", **{"from": "B", "to": "C"}, mode="trunk", length_km=8, speed_kmh=80, replaces="bc", project="upgrade", source="toy"),
    ]).to_csv(folder / "projects.csv", index=False)
    (folder / "scenarios").mkdir(exist_ok=True)
    (folder / "scenarios" / "baseline.yaml").write_text("name: baseline\ndescription: toy baseline\nlevers: []\n", encoding="utf-8")
    if with_polygons:
        from geo.polygons import approximate_township_polygons, write_polygons
        from geo.region import load_region, seat_points

        r = load_region(folder, polygons=False)
        seats = seat_points(r.townships, "EPSG:4326", METRIC)
        write_polygons(approximate_township_polygons(r.outline, seats), folder / "townships.gpkg")
    return folder


def write_scenario(folder: Path, name: str, levers: list[dict], base: str | list | None = "baseline") -> Path:
    """Write ``folder/scenarios/name.yaml`` with the given levers."""
    doc = {"name": name, "description": f"test scenario {name}", **({"base": base} if base else {}), "levers": levers}
    path = folder / "scenarios" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def edit_csv(path: Path, func) -> None:
    """Load a CSV as strings, let ``func`` change the DataFrame, write it back."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = func(df)
    (df if out is None else out).to_csv(path, index=False)
