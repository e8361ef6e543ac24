"""The live map's data: township polygons coloured by an indicator, a legend, and the transport network as GeoJSON.

Pure functions of a model's current state, so the page (``viz/app.py``) only draws what these return, and tests can
check colours, legends and dashed lines without a browser.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize, TwoSlopeNorm, to_hex
from shapely.geometry import mapping

WGS84 = "EPSG:4326"


@dataclass(frozen=True)
class MapIndicator:
    key: str
    label: str
    unit: str
    diverging: bool  # centred on zero (changes) rather than running from low to high
    fmt: str
    label_zh: str = ""

    def text(self, lang: str = "en") -> str:
        """The label in English (``en``) or Chinese (``zh``)."""
        return self.label_zh if lang == "zh" and self.label_zh else self.label


MAP_INDICATORS = {
    "population": MapIndicator("population", "Resident population", "persons", False, "{:,.0f}", "常住人口"),
    "change": MapIndicator("change", "Population change since the start year", "%", True, "{:+.1f}%", "人口变化（较起始年）"),
    "net_migration": MapIndicator("net_migration", "Net migration this year (moves in - out)", "persons", True, "{:+,.0f}", "本年净迁移（迁入－迁出）"),
    "urban_share": MapIndicator("urban_share", "Urban share of residents", "%", False, "{:.1f}%", "城镇人口比重"),
    "price_index": MapIndicator("price_index", "Housing price index (start year = 1)", "index", False, "{:.3f}", "房价指数（起始年=1）"),
    "accessibility": MapIndicator("accessibility", "Accessibility (jobs within reach, start-year mean = 1)", "index", False, "{:.2f}", "就业可达性（起始年均值=1）"),
    "jobs": MapIndicator("jobs", "Jobs", "jobs", False, "{:,.0f}", "就业岗位"),
    "workers": MapIndicator("workers", "Jobs filled (residents and in-commuters working here)", "persons", False, "{:,.0f}", "已填补岗位（本地居民及通勤流入）"),
    "job_vacancies": MapIndicator("job_vacancies", "Unfilled jobs", "jobs", False, "{:,.0f}", "空缺岗位"),
    "employed_residents": MapIndicator("employed_residents", "Employed residents (wherever they work)", "persons", False, "{:,.0f}", "就业常住人口（不论工作地）"),
    "in_commuters": MapIndicator("in_commuters", "Workers commuting in (from other townships and outside)", "persons", False, "{:,.0f}", "通勤流入（其他乡镇及县外）"),
    "out_commuters": MapIndicator("out_commuters", "Residents commuting out (to other townships and outside)", "persons", False, "{:,.0f}", "通勤流出（其他乡镇及县外）"),
}

MODE_COLOURS = {"motorway": "#c0392b", "trunk": "#e67e22", "provincial": "#b7950b", "local": "#7f8c8d",
                "ferry": "#2e86c1", "rail": "#2c3e50", "hsr": "#8e44ad", "metro_rail": "#16a085"}
MODE_WEIGHTS = {"motorway": 4, "trunk": 3, "provincial": 2.5, "local": 1.5, "ferry": 2, "rail": 3, "hsr": 4.5, "metro_rail": 3.5}


def township_values(model, indicator: str) -> dict[str, float]:
    """The indicator's current value for each township code.

    >>> township_values(model, "population")["<code>"]   # doctest: +SKIP
    157800.0
    """
    if indicator not in MAP_INDICATORS:
        raise KeyError(f"unknown map indicator {indicator!r} (expected one of {', '.join(MAP_INDICATORS)})")
    start = {r["township"]: r["population"] for r in model.township_records if r["year"] == model.start}
    out = {}
    for t in model.townships:
        if indicator == "population":
            v = t.population
        elif indicator == "change":
            v = 100.0 * (t.population / start[t.code] - 1.0) if start.get(t.code) else 0.0
        elif indicator == "net_migration":
            v = t.net_migration
        elif indicator == "urban_share":
            v = 100.0 * t.urban_population / t.population if t.population else 0.0
        elif indicator == "job_vacancies":
            v = t.job_vacancies
        else:
            v = getattr(t, indicator)
        out[t.code] = float(v)
    return out


def colour_scale(values: list[float], diverging: bool, n_steps: int = 5) -> tuple[callable, list[tuple[float, str]]]:
    """A function value -> hex colour and the legend's (value, colour) steps.

    Diverging scales are centred on zero (red for losses, blue for gains); others run light to dark.

    >>> colour, steps = colour_scale([0, 5, 10], diverging=False)
    >>> colour(10) == steps[-1][1]
    True
    """
    lo, hi = float(np.min(values)), float(np.max(values))
    if diverging:
        m = max(abs(lo), abs(hi), 1e-9)
        norm, cmap = TwoSlopeNorm(vcenter=0.0, vmin=-m, vmax=m), colormaps["RdBu"]
        ticks = np.linspace(-m, m, n_steps)
    else:
        if hi - lo < 1e-12:
            hi = lo + 1.0
        norm, cmap = Normalize(vmin=lo, vmax=hi), colormaps["YlOrRd"]
        ticks = np.linspace(lo, hi, n_steps)

    def colour(v: float) -> str:
        return to_hex(cmap(0.12 + 0.76 * float(norm(v))))  # avoid the palest and darkest ends: labels stay readable

    return colour, [(float(t), colour(t)) for t in ticks]


def township_geojson(model, region, indicator: str, selected: str | None = None) -> tuple[dict, list[tuple[str, str]]]:
    """Townships as one GeoJSON FeatureCollection, each feature styled by ``indicator``; and the legend.

    Each feature's properties carry the township's code, names and figures (for the hover card) and a ``style``
    (fill colour) that ipyleaflet's GeoJSON layer applies. ``selected`` gets a thicker outline.

    Returns
    -------
    (feature collection, legend as [(label, colour), ...])
    """
    spec = MAP_INDICATORS[indicator]
    values = township_values(model, indicator)
    colour, steps = colour_scale(list(values.values()), spec.diverging)
    shapes = _wgs84_shapes(region)
    features = []
    for t in model.townships:
        info = region.township(t.code)
        features.append({
            "type": "Feature",
            "id": t.code,
            "geometry": shapes[t.code],
            "properties": {
                "code": t.code, "name_zh": info.name_zh, "name_en": info.name_en,
                "value": values[t.code], "value_text": spec.fmt.format(values[t.code]),
                "style": {"fillColor": colour(values[t.code]), "fillOpacity": 0.78,
                          "color": "#111111" if t.code == selected else "#555555",
                          "weight": 3.5 if t.code == selected else 1.0},
            },
        })
    legend = [(spec.fmt.format(v), c) for v, c in steps]
    return {"type": "FeatureCollection", "features": features}, legend


def network_geojson(model) -> dict:
    """The transport links of the run as GeoJSON lines: open ones solid, ones that open later in the run dashed.

    Links closed by ``model.year`` and links that open after the run's end are left out.
    """
    nodes = model.transport.nodes
    features = []
    for e in model.transport.edges:
        if e.is_open(model.year):
            future = False
        elif e.open_year is not None and model.year < e.open_year <= model.end and e.is_open(e.open_year):
            future = True
        else:
            continue
        a, b = nodes[e.u], nodes[e.v]
        features.append({
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[a.lon, a.lat], [b.lon, b.lat]]},
            "properties": {"id": e.id, "mode": e.mode, "open_year": e.open_year, "future": future,
                           "style": {"color": MODE_COLOURS.get(e.mode, "#555555"), "weight": MODE_WEIGHTS.get(e.mode, 2),
                                     "opacity": 0.9, "dashArray": "6 6" if future else None}},
        })
    return {"type": "FeatureCollection", "features": features}


def township_card(model, region, code: str, lang: str = "en") -> list[tuple[str, str]]:
    """The figures shown for one township (hover or click): label, formatted value (labels in ``lang``: en or zh)."""
    info = region.township(code)
    rows = [("乡镇" if lang == "zh" else "Township", f"{info.name_zh} {info.name_en}")]
    for key, spec in MAP_INDICATORS.items():
        rows.append((spec.text(lang), spec.fmt.format(township_values(model, key)[code])))
    return rows


def outline_geojson(region) -> dict:
    """The region's outline as a GeoJSON line layer (no fill), drawn over the townships."""
    key = ("outline", id(region))
    if key not in _SHAPES:
        geoms = region.outline.to_crs(WGS84).geometry.simplify(0.0005)
        _SHAPES[key] = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": mapping(g.boundary),
             "properties": {"style": {"color": "#222222", "weight": 2.5, "fill": False}}} for g in geoms]}
    return _SHAPES[key]


_SHAPES: dict = {}


def _wgs84_shapes(region) -> dict[str, dict]:
    """Township polygons as GeoJSON geometries in longitude/latitude (computed once per region)."""
    key = id(region)
    if key not in _SHAPES:
        polys = region.polygons.to_crs(WGS84).geometry.simplify(0.0005)
        _SHAPES[key] = {code: mapping(g) for code, g in polys.items()}
    return _SHAPES[key]


def township_labels(region) -> list[dict]:
    """Where to write each township's name on the map: its seat, with the Chinese and English names.

    >>> township_labels(region)[0]["name_zh"]   # doctest: +SKIP
    '昆阳镇'
    """
    return [{"code": t.code, "lat": t.lat, "lon": t.lon, "name_zh": t.name_zh, "name_en": t.name_en} for t in region.townships]


def flow_geojson(model, top: int = 25, min_persons: float = 1.0) -> tuple[dict, float]:
    """This year's largest moves between townships as GeoJSON lines from origin seat to destination seat, each with
    an arrowhead at the destination; line width grows with the persons moving.

    Returns the feature collection and the persons of the largest flow shown (0 when there are none). Flows come from
    ``model.flows``, the rows ``run.py run`` writes to flows.parquet.
    """
    seats = {t.code: (t.lon, t.lat) for t in model.region.townships}
    rows = [f for f in model.flows if f["year"] == model.year and f["origin"] in seats and f["destination"] in seats
            and f["persons"] >= min_persons]
    rows = sorted(rows, key=lambda f: -f["persons"])[:top]
    if not rows:
        return {"type": "FeatureCollection", "features": []}, 0.0
    biggest = rows[0]["persons"]
    features = []
    for f in rows:
        (x0, y0), (x1, y1) = seats[f["origin"]], seats[f["destination"]]
        dx, dy = x1 - x0, y1 - y0
        length = max((dx * dx + dy * dy) ** 0.5, 1e-9)
        # stop short of the seat, and draw a V-shaped head there
        ex, ey = x1 - 0.06 * dx, y1 - 0.06 * dy
        ux, uy = dx / length, dy / length
        size = min(0.25 * length, 0.02)
        left = (ex - size * (ux + 0.5 * uy), ey - size * (uy - 0.5 * ux))
        right = (ex - size * (ux - 0.5 * uy), ey - size * (uy + 0.5 * ux))
        width = 1.0 + 5.0 * (f["persons"] / biggest) ** 0.5
        features.append({
            "type": "Feature",
            "geometry": {"type": "MultiLineString", "coordinates": [[[x0, y0], [ex, ey]], [list(left), [ex, ey], list(right)]]},
            "properties": {"origin": f["origin"], "destination": f["destination"], "persons": f["persons"],
                           "style": {"color": "#1a5276", "weight": width, "opacity": 0.7}},
        })
    return {"type": "FeatureCollection", "features": features}, float(biggest)


def mode_legend(model) -> list[tuple[str, str]]:
    """(mode, colour) for every transport mode on the map this run, for the legend."""
    modes = sorted({e.mode for e in model.transport.edges}, key=lambda m: list(MODE_COLOURS).index(m) if m in MODE_COLOURS else 99)
    return [(m, MODE_COLOURS.get(m, "#555555")) for m in modes]
