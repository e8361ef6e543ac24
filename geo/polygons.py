"""Township polygons: approximate Voronoi cells of the seats, clipped to the county outline.

Where no township boundaries are published, each township is given the part of the
county closer to its seat than to any other seat. A county made of several pieces (a
mainland and islands) is split piece by piece: a piece holding seats is divided among
those seats only, and a piece holding none (an island) goes whole to the nearest seat,
so an island group stays with its township and no township gets a slice of an island.
The cells cover the outline with no gaps or overlaps.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import shapely
from shapely.geometry import MultiPoint, Point
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

APPROXIMATE_NOTE = (
    "APPROXIMATE township boundaries: Voronoi cells of the township seats clipped to the county outline "
    "(no public township boundaries available). Replace with surveyed boundaries (any GDAL format with a 'code' column)."
)


def voronoi_partition(outline: BaseGeometry, seats: dict[str, Point]) -> dict[str, BaseGeometry]:
    """Split ``outline`` among ``seats``: each seat gets the area nearer to it than to other seats.

    Parameters
    ----------
    outline : Polygon or MultiPolygon in a metric CRS.
    seats : township code -> seat point (same CRS), each inside or near the outline.

    Returns
    -------
    dict code -> Polygon or MultiPolygon; together they cover ``outline`` exactly.

    Example
    -------
    >>> from shapely.geometry import box
    >>> cells = voronoi_partition(box(0, 0, 2, 1), {"a": Point(0.5, 0.5), "b": Point(1.5, 0.5)})
    >>> round(cells["a"].area, 6), round(cells["b"].area, 6)
    (1.0, 1.0)
    """
    if not seats:
        raise ValueError("no seats to partition the outline among")
    parts = list(outline.geoms) if outline.geom_type == "MultiPolygon" else [outline]
    pieces: dict[str, list[BaseGeometry]] = {code: [] for code in seats}
    codes = list(seats)
    for part in parts:
        inside = [c for c in codes if part.covers(seats[c])]
        if not inside:
            nearest = min(codes, key=lambda c: part.distance(seats[c]))
            pieces[nearest].append(part)
        elif len(inside) == 1:
            pieces[inside[0]].append(part)
        else:
            for code, cell in zip(inside, _cells(part, [seats[c] for c in inside])):
                pieces[code].append(cell.intersection(part))
    return {code: unary_union(p) if p else shapely.Polygon() for code, p in pieces.items()}


def _cells(part: BaseGeometry, points: list[Point]) -> list[BaseGeometry]:
    minx, miny, maxx, maxy = part.bounds
    pad = 2 * max(maxx - minx, maxy - miny)
    envelope = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    cells = shapely.voronoi_polygons(MultiPoint(points), extend_to=envelope, ordered=True)
    return list(cells.geoms)


def approximate_township_polygons(outline: gpd.GeoSeries, seats: gpd.GeoSeries) -> gpd.GeoDataFrame:
    """Voronoi township polygons as a GeoDataFrame with columns ``code`` and ``quality``.

    ``outline`` and ``seats`` (indexed by code) must share a metric CRS.
    """
    if outline.crs != seats.crs:
        raise ValueError(f"outline CRS {outline.crs} differs from seats CRS {seats.crs}")
    cells = voronoi_partition(outline.union_all(), dict(seats.items()))
    return gpd.GeoDataFrame(
        {"code": list(cells), "quality": ["approximate (Voronoi of seats)"] * len(cells)},
        geometry=list(cells.values()),
        crs=outline.crs,
    )


def write_polygons(gdf: gpd.GeoDataFrame, path: str | Path, crs: str = "EPSG:4326") -> Path:
    """Write polygons to a GeoPackage atomically (temporary file, then rename), labelled approximate. A link stands
    for the file it points to: that file is replaced and the link stays."""
    path = Path(path)
    path = path.resolve() if path.is_symlink() else path
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    tmp.unlink(missing_ok=True)
    gdf.to_crs(crs).to_file(tmp, driver="GPKG", layer="townships", metadata={"DESCRIPTION": APPROXIMATE_NOTE})
    tmp.replace(path)
    return path
