"""Static maps of a region: township polygons, seats and the transport network by mode."""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: maps are files, never windows
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D

from geo.network import network_for_year

MODE_STYLE = {
    "motorway": dict(color="#c0392b", lw=2.4),
    "trunk": dict(color="#e67e22", lw=1.6),
    "provincial": dict(color="#d4ac0d", lw=1.3),
    "local": dict(color="#7f8c8d", lw=0.8),
    "ferry": dict(color="#2e86c1", lw=1.0, ls=":"),
    "rail": dict(color="#2c3e50", lw=2.0, ls="--"),
    "hsr": dict(color="#8e44ad", lw=2.6),
    "metro_rail": dict(color="#16a085", lw=2.2),
}
# Fonts that draw simplified Chinese, by the family names matplotlib reads from them, most wanted first: Linux
# packages (Noto CJK, WenQuanYi, AR PL, Droid), then the fonts that ship with Windows (Microsoft YaHei, SimHei,
# DengXian) and macOS (PingFang, Hiragino, Heiti), where the planners who use this tool mostly work.
CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "Noto Sans CJK JP",
             "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "AR PL UMing CN", "Droid Sans Fallback",
             "Microsoft YaHei", "SimHei", "DengXian", "PingFang SC", "Hiragino Sans GB", "Heiti SC", "STHeiti"]
# parts of those fonts' file names, for a font installed after matplotlib listed the system's fonts
CJK_FILE_HINTS = ("wqy", "notosanscjk", "notosanssc", "sourcehansans", "droidsansfallback", "uming", "msyh", "simhei",
                  "deng", "pingfang", "hiragino", "stheiti")


@functools.cache
def has_cjk_font() -> bool:
    """True if a font that can draw Chinese names is installed (else labels use pinyin only)."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    if any(f in names for f in CJK_FONTS):
        return True
    # matplotlib caches the font list once: a CJK font installed after that (e.g. by .ci/setup-browser) is not in
    # the cache until it is rebuilt, so look for one among the system's font files
    for path in font_manager.findSystemFonts():
        if any(hint in Path(path).name.lower().replace("-", "") for hint in CJK_FILE_HINTS):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    names = {f.name for f in font_manager.fontManager.ttflist}
    return any(f in names for f in CJK_FONTS)


if has_cjk_font():
    plt.rcParams["font.sans-serif"] = [*CJK_FONTS, "DejaVu Sans"]


def save_figure(fig, out: str | Path) -> Path:
    """Save ``fig`` under a temporary name beside ``out``, then rename it (never half a picture); close it. A link
    stands for the file it points to: that file is replaced and the link stays."""
    out = Path(out)
    out = out.resolve() if out.is_symlink() else out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    fig.savefig(tmp, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(out)
    return out


def township_label(t, lang: str = "en") -> str:
    """A township's name on a chart: Chinese and English where a CJK font exists (Chinese only in a Chinese chart),
    English only otherwise."""
    if not has_cjk_font():
        return t.name_en
    return t.name_zh if lang == "zh" else f"{t.name_zh}\n{t.name_en}"


def draw_region_map(region, year: int, out: str | Path, since: int | None = None, title: str | None = None) -> Path:
    """Draw township polygons, seats and the network open in ``year``; links opened after ``since`` are highlighted.

    Parameters
    ----------
    region : a loaded :class:`geo.region.Region`.
    year : network year.
    out : PNG path (written to a temporary name, then renamed).
    since : links opened after this year are drawn thicker with a halo (default: 2020).

    Returns
    -------
    The path written.

    Example
    -------
    >>> draw_region_map(load_region("configs/pingyang"), 2030, "map.png")   # doctest: +SKIP
    """
    since = 2020 if since is None else since
    crs = region.config.crs.metric
    polys = region.polygons.to_crs(crs)
    fig, ax = plt.subplots(figsize=(11, 8), dpi=120)
    polys.plot(ax=ax, column=polys.index.to_series().rank().values % 8, cmap="Pastel2", edgecolor="#707070", linewidth=0.7, alpha=0.9)
    region.outline.plot(ax=ax, facecolor="none", edgecolor="#333333", linewidth=1.2)

    import geopandas as gpd
    from shapely.geometry import LineString

    net = network_for_year(region.nodes, region.edges, year)
    pts = gpd.GeoSeries(gpd.points_from_xy([n.lon for n in region.nodes.values()], [n.lat for n in region.nodes.values()]),
                        index=list(region.nodes), crs=region.config.crs.input).to_crs(crs)
    drawn, any_new = [], False  # the legend lists what the map shows
    for mode, style in MODE_STYLE.items():
        new, old = [], []
        for u, v, d in net.edges(data=True):
            if d["mode"] == mode:
                (new if d["open_year"] > since else old).append(LineString([pts[u], pts[v]]))
        if new or old:
            drawn.append(mode)
        any_new = any_new or bool(new)
        if new:
            gpd.GeoSeries(new, crs=crs).plot(ax=ax, color="#f7dc6f", linewidth=style["lw"] + 4, alpha=0.8, zorder=2)
            gpd.GeoSeries(new, crs=crs).plot(ax=ax, zorder=3, **{k: v for k, v in style.items() if k != "lw"}, linewidth=style["lw"] + 0.8)
        if old:
            gpd.GeoSeries(old, crs=crs).plot(ax=ax, zorder=3, **{k: v for k, v in style.items() if k != "lw"}, linewidth=style["lw"])
    seats = [region.seat_node(c) for c in region.codes]
    pts[seats].plot(ax=ax, color="black", markersize=14, zorder=4)
    for t in region.townships:
        p = pts[region.seat_node(t.code)]
        ax.annotate(township_label(t), (p.x, p.y), xytext=(4, 4), textcoords="offset points", fontsize=7, zorder=5)
    xmin, ymin, xmax, ymax = polys.total_bounds
    pad = 0.08 * (xmax - xmin)
    ax.set_xlim(xmin - pad, xmax + pad)
    ax.set_ylim(ymin - pad, ymax + pad)
    ax.set_axis_off()
    handles = [Line2D([], [], **{k: v for k, v in MODE_STYLE[m].items() if k != "lw"}, linewidth=MODE_STYLE[m]["lw"], label=m)
               for m in drawn]
    if any_new:
        handles.append(Line2D([], [], color="#f7dc6f", linewidth=6, label=f"opened after {since}"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=True, title="network by mode")
    boundaries = " (approximate boundaries)" if region.approximate_polygons else ""
    ax.set_title(title or f"{region.config.name}: townships{boundaries} and transport network, {year}")
    return save_figure(fig, out)
