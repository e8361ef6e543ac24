"""The live map's data: township polygons coloured by an indicator, a legend, and the transport network as GeoJSON.

Pure functions of a model's current state, so the page (``viz/app.py``) only draws what these return, and tests can
check colours, legends and dashed lines without a browser.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex
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
    "aged60_share": MapIndicator("aged60_share", "Share of residents aged 60 and over", "%", False, "{:.1f}%", "60岁及以上人口比重"),
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
        elif indicator == "aged60_share":
            v = 100.0 * t.aged60 / t.population if t.population else 0.0
        elif indicator == "job_vacancies":
            v = t.job_vacancies
        else:
            v = getattr(t, indicator)
        out[t.code] = float(v)
    return out


def colour_scale(values: list[float], diverging: bool, n_steps: int = 5) -> tuple[callable, list[tuple[float, str]]]:
    """A function value -> hex colour and the legend's (value, colour) steps.

    Diverging scales are centred on zero (red for losses, blue for gains); others run light to dark. The colours are
    matplotlib's for the same norm and colour map, looked up in the map's table of hex colours rather than through
    matplotlib's norm and colour map per value (0.35 ms a value, 7 ms of each step of the page).

    >>> colour, steps = colour_scale([0, 5, 10], diverging=False)
    >>> colour(10) == steps[-1][1]
    True
    """
    lo, hi = float(np.min(values)), float(np.max(values))
    if diverging:
        m = max(abs(lo), abs(hi), 1e-9)
        table = _hex_table("RdBu")
        ticks = np.linspace(-m, m, n_steps)

        def norm(v: float) -> float:  # matplotlib's TwoSlopeNorm(vcenter=0, vmin=-m, vmax=m)
            return float(np.interp(v, [-m, 0.0, m], [0.0, 0.5, 1.0], left=-np.inf, right=np.inf))
    else:
        if hi - lo < 1e-12:
            hi = lo + 1.0
        table = _hex_table("YlOrRd")
        ticks = np.linspace(lo, hi, n_steps)

        def norm(v: float) -> float:  # matplotlib's Normalize(vmin=lo, vmax=hi)
            return (float(v) - lo) / (hi - lo)

    def colour(v: float) -> str:
        x = 0.12 + 0.76 * norm(v)  # avoid the palest and darkest ends: labels stay readable
        if x != x:
            return "#000000"  # matplotlib's colour for a missing value
        return table[min(int(min(max(x, 0.0), 1.0) * len(table)), len(table) - 1)]  # as a colour map indexes its table

    return colour, [(float(t), colour(t)) for t in ticks]


_HEX: dict[str, tuple[str, ...]] = {}


def _hex_table(name: str) -> tuple[str, ...]:
    """The hex colours of matplotlib's colour map ``name``, its whole table in order (256 for RdBu and YlOrRd)."""
    if name not in _HEX:
        cmap = colormaps[name]
        _HEX[name] = tuple(to_hex(c) for c in cmap(np.arange(cmap.N)))
    return _HEX[name]


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
    tr = model.transport
    if tr not in _OPEN_YEARS:
        _OPEN_YEARS[tr] = sorted({e.open_year for e in tr.edges if e.open_year is not None})
    # the same layer until a link opens (or one that opens later comes within the run): the page then sends nothing
    key = (tr.signature(model.year), tuple(y for y in _OPEN_YEARS[tr] if model.year < y <= model.end))
    cached = _NETWORK.setdefault(tr, {})
    if key not in cached:
        cached[key] = _network_features(model)
    return cached[key]


_OPEN_YEARS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # per Transport: the years links open
_NETWORK: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # per Transport: the layer per network state


def _network_features(model) -> dict:
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
    rows = [("乡镇", info.name_zh) if lang == "zh" else ("Township", f"{info.name_zh} {info.name_en}")]
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


OUTLYING_KM = 5.0  # a township this far from every other is drawn in an inset (islands), not in the main frame


def outlying_townships(region, km: float = OUTLYING_KM) -> list[str]:
    """Codes of townships more than ``km`` from every other township (offshore islands): the main map frames the
    rest, and an inset shows these.

    >>> outlying_townships(region)        # doctest: +SKIP
    ['330326119']
    """
    polys = region.polygons.geometry  # metric CRS
    if len(polys) < 2:
        return []
    out = []
    for code, geom in polys.items():
        if geom.distance(polys.drop(code).union_all()) > km * 1000.0:
            out.append(code)
    return out if len(out) < len(polys) else []


def _mercator_px(lat: float, lon: float, zoom: float) -> tuple[float, float]:
    """Web-Mercator pixel coordinates of a point at ``zoom`` (256-pixel tiles), as Leaflet places it."""
    scale = 256.0 * 2.0 ** zoom
    phi = math.radians(lat)
    return (lon + 180.0) / 360.0 * scale, (1.0 - math.log(math.tan(phi) + 1.0 / math.cos(phi)) / math.pi) / 2.0 * scale


def map_frame(region, width_px: float, height_px: float, codes: list[str] | None = None,
              margin: float = 0.06) -> tuple[tuple[float, float], float]:
    """Centre (lat, lon) and zoom (quarter steps) that show the townships ``codes`` (default: all but the outlying
    ones) whole in a map of ``width_px`` x ``height_px``, with ``margin`` of the frame left free on each side.

    >>> centre, zoom = map_frame(region, 420, 480)   # doctest: +SKIP
    """
    far = set(outlying_townships(region))
    codes = codes if codes is not None else [c for c in region.polygons.index if c not in far]
    xmin, ymin, xmax, ymax = region.polygons.loc[codes].to_crs(WGS84).total_bounds
    usable_w, usable_h = width_px * (1 - 2 * margin), height_px * (1 - 2 * margin)
    best = 0.0
    for quarter in range(4 * 18, 0, -1):  # the largest zoom at which the bounds fit
        zoom = quarter / 4.0
        x0, y0 = _mercator_px(ymax, xmin, zoom)
        x1, y1 = _mercator_px(ymin, xmax, zoom)
        if x1 - x0 <= usable_w and y1 - y0 <= usable_h:
            best = zoom
            break
    return (float(ymin + ymax) / 2.0, float(xmin + xmax) / 2.0), best


def short_name(name_zh: str) -> str:
    """A township's name for a map label: without the administrative suffix (镇, 乡, 畲族乡, 街道), as maps of a county
    usually write them.

    >>> short_name("青街畲族乡"), short_name("鳌江镇"), short_name("闹村乡")
    ('青街', '鳌江', '闹村')
    """
    for suffix in ("畲族乡", "街道", "镇", "乡"):
        if name_zh.endswith(suffix) and len(name_zh) > len(suffix) + 1:
            return name_zh[: -len(suffix)]
    return name_zh


LABEL_FONT_PX = 12


def label_box(text: str, font_px: float = LABEL_FONT_PX) -> tuple[float, float]:
    """Width and height in pixels of a map label: CJK characters a full em wide, others about half."""
    width = sum(font_px if ord(ch) > 0x2E80 else 0.55 * font_px for ch in text)
    return width + 4.0, font_px + 4.0


def place_labels(points: list[tuple[str, float, float, str]], zoom: float,
                 font_px: float = LABEL_FONT_PX) -> dict[str, tuple[float, float]]:
    """Offsets (dx, dy) in pixels from each point to the centre of its label so that no two labels overlap at
    ``zoom``: each label, largest first, takes the first free place among centred, above, below, right and left
    (then twice as far); a label with no free place keeps the centre.

    ``points`` are (key, lat, lon, text). Returns key -> (dx, dy).

    >>> offsets = place_labels([("a", 27.60, 120.50, "鳌江"), ("b", 27.60, 120.501, "昆阳")], zoom=12)
    >>> offsets["a"], offsets["b"] != (0.0, 0.0)
    ((0.0, 0.0), True)
    """
    placed: list[tuple[float, float, float, float]] = []
    out: dict[str, tuple[float, float]] = {}

    def free(box):
        return all(box[2] <= b[0] or box[0] >= b[2] or box[3] <= b[1] or box[1] >= b[3] for b in placed)

    for key, lat, lon, text in sorted(points, key=lambda p: -len(p[3])):
        x, y = _mercator_px(lat, lon, zoom)
        w, h = label_box(text, font_px)
        options = [(0.0, 0.0)]
        for k in (1.0, 2.0):
            options += [(0.0, -k * h), (0.0, k * h), (k * (w / 2 + 6), 0.0), (-k * (w / 2 + 6), 0.0)]
        choice = (0.0, 0.0)
        for dx, dy in options:
            box = (x + dx - w / 2, y + dy - h / 2, x + dx + w / 2, y + dy + h / 2)
            if free(box):
                choice = (dx, dy)
                break
        cx, cy = x + choice[0], y + choice[1]
        placed.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
        out[key] = choice
    return out
