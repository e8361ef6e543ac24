"""Static charts of scenario results: indicators over time with plan targets, and difference maps."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.colors import TwoSlopeNorm, to_rgba

from viz.maps import save_figure, township_label
from viz.words import count_format, indicator_label, word

AGE_SHARES = ("aged0_14_share", "aged60_share")
EDUCATION = ("higher_education_share", "higher_education_20_59")  # the plan's is the 20-59 one; shown after ageing
LAYOUTS: dict[tuple, dict[str, float]] = {}
"""Subplot parameters of the server's indicator panels by their arguments (:class:`LiveIndicators`)."""


def chart_indicators(columns) -> list[str]:
    """The indicators the charts show, in order: population, primacy, every township group's share, urbanisation,
    ageing, dependency, higher education of ages 20-59, migrants and the registered (hukou) population (those present
    in ``columns``: names, or a table, whose columns without any value are left out, such as the registered
    population of a region whose start census has no registered count)."""
    if isinstance(columns, pd.DataFrame):
        columns = [c for c in columns.columns if columns[c].notna().any()]
    groups = [c for c in columns if c.endswith("_share") and c not in AGE_SHARES + EDUCATION]
    order = ["population", "primacy", *groups, "urbanisation", "aged60_share", "dependency_ratio", "higher_education_20_59",
             "migrant_population", "registered_population"]
    return [c for c in order if c in columns]


def indicator_chart(county: pd.DataFrame, scenarios: list[str], targets: dict, out: str | Path,
                    indicators: list[str] | None = None, title: str | None = None, lang: str = "en",
                    labels: dict[str, str] | None = None, names: dict[str, str] | None = None) -> Path:
    """One panel per indicator: mean over seeds per scenario with its 90% band, plan targets as markers.

    Parameters
    ----------
    county : rows scenario, seed, year and indicator columns.
    scenarios : scenario order (colours follow it).
    targets : indicator -> Target from ``region.config.targets``.
    out : PNG path.
    lang : ``"en"`` or ``"zh"``: the language of titles, legend and ticks.
    labels : "local English" labels of further columns (township groups, :func:`viz.words.region_labels`).
    names : what the legend calls each scenario (default: its name).

    Example
    -------
    >>> indicator_chart(county_runs, ["baseline", "plan_all"], region.config.targets, "indicators.png")  # doctest: +SKIP
    """
    fig = indicator_figure(county, scenarios, targets, indicators, title=title, lang=lang, labels=labels, names=names)
    return save_figure(fig, out)


def indicator_figure(county: pd.DataFrame, scenarios: list[str], targets: dict, indicators: list[str] | None = None,
                     years: tuple[int, int] | None = None, title: str | None = None, width: float = 12, cols: int = 2,
                     lang: str = "en", labels: dict[str, str] | None = None, names: dict[str, str] | None = None,
                     layout: dict[str, float] | None = None):
    """The figure of :func:`indicator_chart`, not saved (the server draws it on its page).

    ``years`` fixes the x axis (the server shows the whole run while it is being simulated). ``layout``: the subplot
    parameters (:func:`subplot_params`) an earlier figure with the same arguments was laid out with, used instead of
    matplotlib's tight layout, which measures every label by drawing it.
    """
    indicators = indicators or chart_indicators(county)
    rows = int(np.ceil(len(indicators) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width, 3.2 * rows * width / (6 * cols)), dpi=110, squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, ind in zip(axes.flat, indicators):
        label, unit = indicator_label(ind, lang, labels)
        for k, s in enumerate(scenarios):
            g = county[county.scenario == s].groupby("year")[ind]
            mean, lo, hi = g.mean(), g.quantile(0.05), g.quantile(0.95)
            c = colours[k % len(colours)]
            ax.plot(mean.index, mean.values, color=c, lw=1.8, label=(names or {}).get(s, s))
            ax.fill_between(mean.index, lo.values, hi.values, color=c, alpha=0.18, lw=0)
        t = targets.get(ind)
        if t is not None:
            ys = sorted(t.by_year)
            ax.scatter(ys, [t.by_year[y] for y in ys], marker="v" if t.kind == "max" else "^", color="black", zorder=5,
                       label=word(f"plan target ({'max' if t.kind == 'max' else 'min'})", lang))
        ax.set_title(label, fontsize=10)
        if unit == "share" or unit == "ratio":
            ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=None))
        else:
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(count_format(lang)))
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(indicators):]:
        ax.set_axis_off()
    handles, labels = axes.flat[0].get_legend_handles_labels()
    for ax in axes.flat:
        h, lab = ax.get_legend_handles_labels()
        for hh, ll in zip(h, lab):
            if ll not in labels:
                handles.append(hh)
                labels.append(ll)
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), frameon=False, bbox_to_anchor=(0.5, -0.02))
    for ax in axes.flat:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        if years is not None:
            ax.set_xlim(years[0] - 0.5, years[1] + 0.5)
    fig.suptitle(title or word("indicators by scenario", lang), fontsize=12)
    if layout is None:
        fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    else:
        fig.subplots_adjust(**layout)
    return fig


def subplot_params(fig) -> dict[str, float]:
    """The subplot parameters ``fig`` is laid out with, as keywords of ``Figure.subplots_adjust``.

    >>> from matplotlib.figure import Figure
    >>> fig = Figure(); fig.subplots_adjust(left=0.2); subplot_params(fig)["left"]
    0.2
    """
    sp = fig.subplotpars
    return {k: getattr(sp, k) for k in ("left", "right", "bottom", "top", "wspace", "hspace")}


def spread_labels(points: np.ndarray, box: tuple[float, float], iterations: int = 200) -> np.ndarray:
    """Label positions near ``points`` (n x 2) such that no two label boxes (width, height) overlap: overlapping
    pairs are pushed apart vertically, a little at a time.

    >>> p = spread_labels(np.array([[0.0, 0.0], [0.1, 0.0]]), (1.0, 1.0))
    >>> bool(abs(p[0, 1] - p[1, 1]) >= 1.0 - 1e-9)
    True
    """
    pos = np.asarray(points, float).copy()
    w, h = box
    for _ in range(iterations):
        moved = False
        for i in range(len(pos)):
            for j in range(i + 1, len(pos)):
                dx, dy = pos[j] - pos[i]
                if abs(dx) < w and abs(dy) < h:
                    push = (h - abs(dy)) / 2 + 1e-9
                    sign = 1.0 if dy > 0 or (dy == 0 and j > i) else -1.0
                    pos[i, 1] -= sign * push
                    pos[j, 1] += sign * push
                    moved = True
        if not moved:
            break
    return pos


def map_size(bounds) -> tuple[float, float]:
    """Figure size (inches) for a map of ``bounds`` (xmin, ymin, xmax, ymax) 10 inches wide: as tall as the map's
    shape needs, plus room for the title and a caption, within 4.5 to 9 inches.

    >>> map_size((0, 0, 100, 50))
    (10.0, 6.1)
    """
    xmin, ymin, xmax, ymax = bounds
    return 10.0, round(float(np.clip(9.0 * (ymax - ymin) / max(xmax - xmin, 1.0) + 1.6, 4.5, 9.0)), 3)


def caption_under(ax, text: str) -> None:
    """``text`` in small type just under the map drawn in ``ax``, wrapped at 110 characters.

    Placed against the map's own frame (which an equal-aspect map shrinks at drawing time), not the figure's edge,
    so a wide region's map has no band of white between it and its caption once the figure is cropped.
    """
    ax.annotate(textwrap.fill(text, 110), (0.0, 0.0), xycoords="axes fraction", xytext=(0, -4),
                textcoords="offset points", fontsize=8, ha="left", va="top", annotation_clip=False)


def township_map(region, values: pd.Series, label: str, title: str, fmt: str, out: str | Path,
                 diverging: bool = True, marked: set[str] | None = None, mark_note: str = "", lang: str = "en") -> Path:
    """A map of one value per township, each township labelled with its value.

    ``values`` is indexed by township code; ``fmt`` formats a label value, e.g. ``"{:+,.0f}"``. Diverging maps are
    centred on 0 (red below, blue above); others run light to dark. Townships in ``marked`` are hatched and their
    label starred (``mark_note`` says what the mark means). Labels that would overlap are moved apart, with a thin
    line back to their township. Townships far from all others (islands) are drawn in an inset in the lower right
    corner, so the rest fill the frame. ``lang`` is the language of the township names.
    """
    crs = region.config.crs.metric
    polys = region.polygons.to_crs(crs).copy()
    values = values.reindex(polys.index).fillna(0.0)
    polys["value"] = values.values
    # townships far from all others (islands) go into an inset, so that the rest fill the frame
    from viz.mapview import outlying_townships

    outlying = set(outlying_townships(region))
    main = polys[~polys.index.isin(outlying)]
    xmin, ymin, xmax, ymax = main.total_bounds
    fig, ax = plt.subplots(figsize=map_size((xmin, ymin, xmax, ymax)), dpi=110)
    if diverging:
        span = max(float(np.abs(values).max()), 1.0)
        style = dict(cmap="RdBu", norm=TwoSlopeNorm(0.0, -span, span))
    else:
        style = dict(cmap="YlOrRd", vmin=0.0, vmax=float(values.max()) * 1.1)
    polys.plot(ax=ax, column="value", **style, edgecolor="#555555", linewidth=0.7,
               legend=True, legend_kwds={"label": label, "shrink": 0.7})
    region.outline.plot(ax=ax, facecolor="none", edgecolor="#222222", linewidth=1.0)
    marked = set(marked or ())
    if marked:
        polys[polys.index.isin(marked)].plot(ax=ax, facecolor="none", edgecolor="#111111", linewidth=1.4, hatch="///")
    pad = 0.04 * max(xmax - xmin, ymax - ymin)
    ax.set_xlim(xmin - pad, xmax + pad)
    ax.set_ylim(ymin - pad, ymax + pad)

    def label(t) -> str:
        return f"{township_label(t, lang)}\n{fmt.format(values[t.code])}{'*' if t.code in marked else ''}"

    halo = [patheffects.withStroke(linewidth=2.2, foreground="white")]
    shown = [t for t in region.townships if t.code not in outlying]
    anchors = np.array([(p.x, p.y) for p in (main.geometry[t.code].representative_point() for t in shown)])
    # a two-line label of about 9 characters at fontsize 7, in map units
    places = spread_labels(anchors, (0.085 * (xmax - xmin), 0.045 * (ymax - ymin)))
    for (x, y), (lx, ly), t in zip(anchors, places, shown):
        moved = abs(ly - y) > 1e-6
        ax.annotate(label(t), (x, y), xytext=(lx, ly), ha="center", va="center", fontsize=7, path_effects=halo,
                    arrowprops=dict(arrowstyle="-", lw=0.5, color="#555555") if moved else None)
    if outlying:
        inset = ax.inset_axes([0.80, 0.02, 0.19, 0.24])
        islands = polys[polys.index.isin(outlying)]
        islands.plot(ax=inset, column="value", **style, edgecolor="#555555", linewidth=0.7)
        if marked & outlying:
            islands[islands.index.isin(marked)].plot(ax=inset, facecolor="none", edgecolor="#111111", linewidth=1.4,
                                                     hatch="///")
        for t in region.townships:
            if t.code in outlying:
                p = islands.geometry[t.code].representative_point()
                inset.annotate(label(t), (p.x, p.y), ha="center", va="center", fontsize=7, path_effects=halo)
        inset.set_xticks([])
        inset.set_yticks([])
        inset.set_xlabel("")
        inset.set_ylabel("")
        inset.set_aspect("equal")
        ix0, iy0, ix1, iy1 = islands.total_bounds
        ipad = 0.25 * max(ix1 - ix0, iy1 - iy0, 1.0)
        inset.set_xlim(ix0 - ipad, ix1 + ipad)
        inset.set_ylim(iy0 - ipad, iy1 + ipad)
    ax.set_axis_off()
    ax.set_xlabel("")  # geopandas names the CRS's axes; the map shows none
    ax.set_ylabel("")
    ax.set_title(title, fontsize=11)
    if mark_note:
        caption_under(ax, mark_note)
    return save_figure(fig, out)


def difference_map(region, diff: pd.DataFrame, scenario: str, reference: str, year: int, out: str | Path,
                   lang: str = "en", names: dict[str, str] | None = None, pairs: int | None = None) -> Path:
    """Township population in ``scenario`` minus ``reference`` (mean over seeds), as a diverging map.

    ``diff`` has columns township and diff_mean (e.g. one scenario's rows of
    :func:`workflow.compare.township_difference`); ``names`` says what to call the scenarios (default: their names);
    ``lang`` is the language of the map's words. Townships whose difference is beyond seed noise
    (:func:`workflow.compare.noise_verdict`) are hatched; ``pairs`` is the number of paired differences behind each
    interval (default: ``diff``'s pairs column). With fewer than
    :data:`workflow.compare.MIN_PAIRS_FOR_NOISE`, none is, and the caption says why.
    """
    from workflow.compare import MIN_PAIRS_FOR_NOISE, agreement_odds, noise_verdict

    d = diff.set_index("township")
    if pairs is None:
        pairs = int(d["pairs"].min()) if "pairs" in d.columns and len(d) else MIN_PAIRS_FOR_NOISE
    intervals = {"diff_p05", "diff_p95"} <= set(d.columns)
    marked = {t for t, r in d.iterrows() if noise_verdict(r.diff_p05, r.diff_p95, pairs) == "beyond"} if intervals else set()
    few = intervals and 1 < pairs < MIN_PAIRS_FOR_NOISE
    times = agreement_odds(pairs)
    s, r = (names or {}).get(scenario, scenario), (names or {}).get(reference, reference)
    if lang == "zh":
        place = getattr(region.config, "name_local", None) or region.config.name
        approx = "；乡镇边界为近似" if region.boundary_note() else ""
        note = ("未标斜线：每个情景只有一次运行，没有区间" if pairs <= 1 else
                f"未标斜线：只有 {pairs} 个随机种子，即使没有效应，一个乡镇的区间也约有 1/{times} 的概率不含 0；"
                f"至少 {MIN_PAIRS_FOR_NOISE} 个种子才标出超出随机波动的乡镇" if few else
                "斜线及 *：配对差值的 5%–95% 区间不含 0；其余乡镇的差值在随机波动范围内")
        return township_map(region, d["diff_mean"], f"常住人口之差（人），{year}年",
                            f"{place}：{year}年“{s}”与“{r}”的常住人口之差\n按随机种子配对的均值{approx}", "{:+,.0f}", out,
                            marked=marked, lang=lang, mark_note=note)
    note = ("no township is hatched: one run per scenario gives no interval" if pairs <= 1 else
            f"no township is hatched: with {pairs} seeds, an unchanged township's interval would exclude 0 about 1 time "
            f"in {times}; townships beyond seed noise are marked from {MIN_PAIRS_FOR_NOISE} seeds" if few else
            "hatched and *: the 5%–95% interval of the paired differences over seeds excludes 0; elsewhere the "
            "difference is within seed noise")
    # the colour bar's label stays short (a scenario's title is long, and the title above names both)
    return township_map(region, d["diff_mean"], f"difference in residents, {year}",
                        f"{region.config.name}: residents in {s} minus {r}, {year}\n"
                        + "; ".join(x for x in ("mean over seeds, paired by seed", region.boundary_note()) if x), "{:+,.0f}", out,
                        marked=marked, mark_note=note)


def flow_map(region, flows: pd.DataFrame, title: str, out: str | Path, top: int = 15, lang: str = "en") -> Path:
    """The largest moves between townships (rows origin, destination, persons of flows.parquet, summed over the
    rows given) as arrows from seat to seat over the township outlines; arrow width grows with persons.

    External zones are left out (they have no place on the county map); the caption says how many persons the
    arrows show of all moves between townships.
    """
    crs = region.config.crs.metric
    polys = region.polygons.to_crs(crs)
    codes = set(region.codes)
    inner = flows[flows.origin.isin(codes) & flows.destination.isin(codes)]
    pairs = inner.groupby(["origin", "destination"]).persons.sum().sort_values(ascending=False)
    shown = pairs.head(top)
    seats = gpd_points(region, crs)
    fig, ax = plt.subplots(figsize=map_size(polys.total_bounds), dpi=110)
    polys.plot(ax=ax, facecolor="#f4f1ea", edgecolor="#888888", linewidth=0.6)
    region.outline.to_crs(crs).plot(ax=ax, facecolor="none", edgecolor="#222222", linewidth=1.0)
    biggest = float(shown.max()) if len(shown) else 1.0
    for (o, d), persons in shown.items():
        (x0, y0), (x1, y1) = seats[o], seats[d]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops=dict(arrowstyle="-|>", color="#1a5276", alpha=0.75, shrinkA=4, shrinkB=6,
                                    lw=0.8 + 5.0 * (persons / biggest) ** 0.5, mutation_scale=10,
                                    connectionstyle="arc3,rad=0.12"))
    for t in region.townships:
        x, y = seats[t.code]
        ax.annotate(township_label(t, lang), (x, y), ha="center", va="bottom", fontsize=7,
                    path_effects=[patheffects.withStroke(linewidth=2.2, foreground="white")])
    ax.set_axis_off()
    total = float(pairs.sum())
    share = float(shown.sum()) / total if total else 0.0
    ax.set_title(title, fontsize=11)
    caption = (f"乡镇间最大的 {len(shown)} 条迁移流（占乡镇间迁移 {total:,.0f} 人的 {share:.0%}）；最粗箭头 {biggest:,.0f} 人。"
               if lang == "zh" else f"The {len(shown)} largest flows between townships ({share:.0%} of "
                                    f"{total:,.0f} persons moving between townships); widest arrow {biggest:,.0f} persons.")
    caption_under(ax, caption)
    return save_figure(fig, out)


def gpd_points(region, crs: str) -> dict[str, tuple[float, float]]:
    """Township seats in ``crs`` (code -> x, y)."""
    import geopandas as gpd

    pts = gpd.GeoSeries(gpd.points_from_xy([t.lon for t in region.townships], [t.lat for t in region.townships]),
                        crs=region.config.crs.input).to_crs(crs)
    return {t.code: (p.x, p.y) for t, p in zip(region.townships, pts)}


def township_bars(region, current: pd.Series, start: pd.Series, year: int, start_year: int, width: float = 6,
                  lang: str = "en"):
    """Horizontal bars of township populations in ``year``, largest first, with the start year as a tick.

    Parameters
    ----------
    current, start : population by township code.

    Returns
    -------
    A matplotlib Figure (not saved).
    """
    fig, *_ = _bars_figure(region, current.sort_values().index, current, start, year, start_year, width, lang)
    return fig


def _bars_figure(region, order, current: pd.Series, start: pd.Series, year: int, start_year: int, width: float,
                 lang: str = "en"):
    fig, ax = plt.subplots(figsize=(width, 0.32 * len(order) + 1.2), dpi=110)
    y = np.arange(len(order))
    bars = ax.barh(y, current[order].values, color="#4c72b0", label=str(year))
    ticks = ax.scatter(start[order].values, y, marker="|", s=160, color="black", zorder=3, label=str(start_year))
    ax.set_yticks(y, [township_label(region.township(c), lang) for c in order], fontsize=8)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(count_format(lang)))
    ax.set_xlabel(word("residents", lang))
    title = ax.set_title(word("populations title", lang, year=year, start=start_year), fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig, bars, title, ticks


def png_bytes(rgba: np.ndarray, level: int = 1) -> bytes:
    """An RGBA picture (height x width x 4, uint8) as PNG bytes, its rows unfiltered and compressed at ``level``.

    The page sends its charts as PNG every year. Pillow chooses a filter for each row before compressing, which took
    18 ms for the indicator panels (880 x 625), three times as long as compressing the rows as they are (6 ms, for
    a file 15% larger). The format is the plain one every browser and Pillow read: a signature, then the header, the
    compressed rows and the end as chunks, each with its length and CRC-32.

    Parameters
    ----------
    rgba : the pixels, row by row from the top.
    level : zlib's compression level, 1 (fastest) to 9.

    Returns
    -------
    The file's bytes.

    Example
    -------
    >>> data = png_bytes(np.zeros((2, 3, 4), np.uint8))
    >>> data[:8] == b"\\x89PNG\\r\\n\\x1a\\n", int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    (True, 3, 2)
    """
    import struct
    import zlib

    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise ValueError(f"expected height x width x 4 uint8 pixels, got {rgba.shape} {rgba.dtype}")
    height, width = rgba.shape[:2]
    rows = np.empty((height, 1 + 4 * width), np.uint8)
    rows[:, 0] = 0  # each row starts with its filter type: 0, none
    rows[:, 1:] = rgba.reshape(height, -1)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8 bits a channel, RGBA, no interlacing
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, level))
            + chunk(b"IEND", b""))


class LiveTownshipBars:
    """The server's township bars, blitted like :class:`LiveIndicators`: the townships keep the start year's order
    (largest at the top) so that only the bars' lengths and the title change from year to year."""

    def __init__(self, region, start: pd.Series, start_year: int, width: float = 6, dpi: int = 80, lang: str = "en"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.lang = lang
        self.order = start.sort_values().index
        self.fig, self.bars, self.title, self.ticks = _bars_figure(region, self.order, start, start, start_year,
                                                                   start_year, width, lang)
        self.bars.set_label(word("simulated year", lang))
        self.title.axes.legend(loc="lower right", fontsize=8)
        plt.close(self.fig)
        self.fig.set_dpi(dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        self.start_year = start_year
        for artist in [*self.bars, self.title, self.ticks]:  # drawn each year, the start ticks over the bars
            artist.set_animated(True)
        self.ax = self.title.axes
        self.ax.set_xlim(0, float(start.max()) * 1.3)
        self.background = None

    def png(self, current: pd.Series, year: int) -> bytes:
        """The bars for ``current`` (population by township code) as PNG bytes."""
        values = current[self.order].to_numpy(float)
        if self.background is None or values.max() > self.ax.get_xlim()[1]:
            self.ax.set_xlim(0, max(self.ax.get_xlim()[1], float(values.max()) * 1.3))
            self.canvas.draw()
            self.background = self.canvas.copy_from_bbox(self.fig.bbox)
        else:
            self.canvas.restore_region(self.background)
        for bar, v in zip(self.bars, values):
            bar.set_width(v)
            self.ax.draw_artist(bar)
        self.ax.draw_artist(self.ticks)
        self.title.set_text(word("populations title", self.lang, year=year, start=self.start_year))
        self.ax.draw_artist(self.title)
        return png_bytes(np.asarray(self.canvas.buffer_rgba()))


class LiveIndicators:
    """The server's indicator panels: drawn once per run, then only their lines change each year.

    The axes, ticks and targets are drawn once into a cached background; each year only the lines and the title are
    drawn over it (blitting) and the pixels saved as PNG. The background is redrawn only when a line leaves its
    panel's y range, which then widens to hold the line's trend to the end year. Drawing the panels anew took
    about 1.1 s a year.

    The panels' layout is measured once per set of arguments and kept (:data:`LAYOUTS`): measuring it took 0.27 s of
    the 0.35 s of building the panels, which the page does at each Reset. When the ranges of a few panels widen (at
    most a third of them), only those panels are drawn again into the background (0.02-0.03 s a panel instead of
    0.18 s for the figure), as long as what each covers, before and after, touches no other panel; otherwise the
    whole figure is drawn. Both give the same pixels (``partial_redraws`` False draws the whole figure every time,
    for comparison).

    Example
    -------
    >>> live = LiveIndicators(region.config.targets, ["population", "primacy"], (2020, 2035), "baseline")  # doctest: +SKIP
    >>> png = live.png(county_so_far, "County indicators to 2023")                                        # doctest: +SKIP
    """

    def __init__(self, targets: dict, indicators: list[str], years: tuple[int, int], label: str,
                 width: float = 15, cols: int = 4, dpi: int = 80, lang: str = "en", labels: dict[str, str] | None = None):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.years = years
        empty = pd.DataFrame({"year": [years[0]], "scenario": [label], **{k: [np.nan] for k in indicators}})
        # every argument that is drawn: the same arguments give the same figure, so its layout can be reused
        key = (tuple(indicators), tuple(years), label, width, cols, lang, tuple(sorted((labels or {}).items())),
               tuple((k, targets[k].kind, tuple(sorted(targets[k].by_year.items()))) for k in indicators if k in targets))
        self.fig = indicator_figure(empty, [label], targets, indicators, years=years, width=width, cols=cols, lang=lang,
                                    labels=labels, layout=LAYOUTS.get(key))
        LAYOUTS.setdefault(key, subplot_params(self.fig))
        plt.close(self.fig)  # out of pyplot's registry: garbage-collected with this object
        self.fig.set_dpi(dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        self.title = self.fig.texts[0] if self.fig.texts else self.fig.suptitle("")
        self.title.set_animated(True)
        self.background = None
        self.partial_redraws = True
        self._extents = None  # what each panel covers on the canvas (pixels), measured when first needed after a draw
        self.panels = {}
        for ax, ind in zip(self.fig.axes, indicators):
            t = targets.get(ind)
            ax.lines[0].set_animated(True)
            self.panels[ind] = (ax.lines[0], [] if t is None else list(t.by_year.values()))

    def _wider_limits(self, line, values: np.ndarray, goals: list[float]) -> tuple[float, float] | None:
        """The panel's wider y range if the line (or a target) falls outside the present one, else None.

        The new range also holds where the line's recent trend (its last four years) leads by the end year, so a
        line that keeps its trend stays inside: two or three redraws over a run instead of about ten (a redraw
        costs about 0.25 s of a step).
        """
        finite = [v for v in [*values, *goals] if np.isfinite(v)]
        if not finite:
            return None
        lo, hi = min(finite), max(finite)
        ax = line.axes
        if self.background is not None and ax.get_ylim()[0] <= lo and hi <= ax.get_ylim()[1]:
            return None
        years, vals = np.asarray(line.get_xdata(), float), np.asarray(values, float)
        ok = np.isfinite(vals)
        if ok.sum() >= 2:
            x, y = years[ok], vals[ok]
            k = max(0, len(y) - 4)
            ahead = y[-1] + (y[-1] - y[k]) / max(x[-1] - x[k], 1.0) * (self.years[1] - x[-1])
            lo, hi = min(lo, ahead), max(hi, ahead)
        # before a line has a trend (its first years), room for a tenth of its level either way: a start-year range
        # of a few percent made each of the first years redraw a panel (0.2-0.3 s of a step each)
        span = max(hi - lo, (0.4 if ok.sum() < 3 else 0.1) * abs(hi), 1e-9)
        return lo - 0.25 * span, hi + 0.25 * span

    def _redraw_panels(self, limits: dict) -> bool:
        """Give the panels in ``limits`` (axes -> y range) their new ranges and draw only those panels again into
        the background. Done only when the area each of them covers, before and after, touches neither another
        panel nor the legend; otherwise False, and the caller draws the whole figure."""
        from matplotlib.transforms import Bbox

        renderer = self.canvas.get_renderer()
        if self._extents is None:  # the state the background shows (nothing changed since it was drawn)
            self._extents = {ax: ax.get_tightbbox(renderer) for ax in self.fig.axes}
        before = {ax: self._extents[ax] for ax in limits}
        for ax, lim in limits.items():
            ax.set_ylim(*lim)
        after = {ax: ax.get_tightbbox(renderer) for ax in limits}
        width, height = int(renderer.width), int(renderer.height)  # the pixel buffer's size
        areas = {}
        for ax in limits:  # whole pixels, two to spare for antialiased edges
            x0, y0, x1, y1 = Bbox.union([before[ax], after[ax]]).extents
            areas[ax] = Bbox.from_extents(np.floor(x0) - 2, np.floor(y0) - 2, np.ceil(x1) + 2, np.ceil(y1) + 2)
        others = [b for ax, b in self._extents.items() if ax not in limits and b is not None]
        others += [legend.get_window_extent(renderer) for legend in self.fig.legends]
        boxes = list(areas.values())
        if (any(b.x0 < 0 or b.y0 < 0 or b.x1 > width or b.y1 > height for b in boxes)
                or any(b.overlaps(o) for b in boxes for o in others)
                or any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])):
            return False
        self.canvas.restore_region(self.background)
        pixels = np.asarray(self.canvas.buffer_rgba())  # rows from the top
        blank = np.round(np.asarray(to_rgba(self.fig.get_facecolor())) * 255).astype(np.uint8)
        for ax, b in areas.items():
            pixels[height - int(b.y1):height - int(b.y0), int(b.x0):int(b.x1)] = blank
            ax.draw(renderer)  # the panel without its animated line
        self._extents.update(after)
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)
        return True

    def png(self, county: pd.DataFrame, title: str) -> bytes:
        """The panels with ``county`` (rows by year) as PNG bytes."""
        limits = {}
        for ind, (line, goals) in self.panels.items():
            values = county[ind].to_numpy(float)
            line.set_data(county["year"].to_numpy(), values)
            wider = self._wider_limits(line, values, goals)
            if wider is not None:
                limits[line.axes] = wider
        if not limits and self.background is not None:
            self.canvas.restore_region(self.background)
        # a panel costs about a seventh of the whole figure to measure and draw: a few panels are drawn one by one
        elif (self.background is None or not self.partial_redraws or len(limits) > max(1, len(self.panels) // 3)
              or not self._redraw_panels(limits)):
            for ax, lim in limits.items():
                ax.set_ylim(*lim)
            self.canvas.draw()  # everything but the animated lines and title
            self.background = self.canvas.copy_from_bbox(self.fig.bbox)
            self._extents = None
        self.title.set_text(title)
        self.fig.draw_artist(self.title)
        for line, _ in self.panels.values():
            line.axes.draw_artist(line)
        return png_bytes(np.asarray(self.canvas.buffer_rgba()))
