"""Static charts of scenario results: indicators over time with plan targets, and difference maps."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm

from viz.maps import save_figure, township_label

INDICATOR_LABELS = {
    "population": ("Resident population", "persons"),
    "primacy": ("Main-centre share (primacy)", "share"),
    "gupanshan_share": ("Gupanshan ring share", "share"),
    "shuitou_share": ("Shuitou share", "share"),
    "urbanisation": ("Urbanisation", "share"),
    "aged60_share": ("Aged 60+ share", "share"),
    "dependency_ratio": ("Dependency ratio", "ratio"),
    "migrant_population": ("Migrant (non-local hukou) residents", "persons"),
}


def indicator_chart(county: pd.DataFrame, scenarios: list[str], targets: dict, out: str | Path,
                    indicators: list[str] | None = None) -> Path:
    """One panel per indicator: mean over seeds per scenario with its 90% band, plan targets as markers.

    Parameters
    ----------
    county : rows scenario, seed, year and indicator columns.
    scenarios : scenario order (colours follow it).
    targets : indicator -> Target from ``region.config.targets``.
    out : PNG path.

    Example
    -------
    >>> indicator_chart(county_runs, ["baseline", "plan_all"], region.config.targets, "indicators.png")  # doctest: +SKIP
    """
    indicators = indicators or [k for k in INDICATOR_LABELS if k in county.columns]
    cols = 2
    rows = int(np.ceil(len(indicators) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(12, 3.2 * rows), dpi=110, squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, ind in zip(axes.flat, indicators):
        label, unit = INDICATOR_LABELS.get(ind, (ind, ""))
        for k, s in enumerate(scenarios):
            g = county[county.scenario == s].groupby("year")[ind]
            mean, lo, hi = g.mean(), g.quantile(0.05), g.quantile(0.95)
            c = colours[k % len(colours)]
            ax.plot(mean.index, mean.values, color=c, lw=1.8, label=s)
            ax.fill_between(mean.index, lo.values, hi.values, color=c, alpha=0.18, lw=0)
        t = targets.get(ind)
        if t is not None:
            ys = sorted(t.by_year)
            ax.scatter(ys, [t.by_year[y] for y in ys], marker="v" if t.kind == "max" else "^", color="black", zorder=5,
                       label=f"plan target ({'max' if t.kind == 'max' else 'min'})")
        ax.set_title(label, fontsize=10)
        if unit == "share" or unit == "ratio":
            ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=1))
        else:
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1e3:,.0f}k"))
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
    fig.suptitle("County indicators by scenario: mean over seeds, band = 90% of seeds", fontsize=12)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    return save_figure(fig, out)


def township_map(region, values: pd.Series, label: str, title: str, fmt: str, out: str | Path) -> Path:
    """A diverging map of one value per township (centred on 0), each township labelled with its value.

    ``values`` is indexed by township code; ``fmt`` formats a label value, e.g. ``"{:+,.0f}"``.
    """
    crs = region.config.crs.metric
    polys = region.polygons.to_crs(crs).copy()
    values = values.reindex(polys.index).fillna(0.0)
    polys["value"] = values.values
    span = max(float(np.abs(values).max()), 1.0)
    fig, ax = plt.subplots(figsize=(10, 8), dpi=110)
    polys.plot(ax=ax, column="value", cmap="RdBu", norm=TwoSlopeNorm(0.0, -span, span), edgecolor="#555555", linewidth=0.7,
               legend=True, legend_kwds={"label": label, "shrink": 0.7})
    region.outline.plot(ax=ax, facecolor="none", edgecolor="#222222", linewidth=1.0)
    for t in region.townships:
        p = polys.geometry[t.code].representative_point()
        ax.annotate(f"{township_label(t)}\n{fmt.format(values[t.code])}", (p.x, p.y), ha="center", fontsize=7)
    ax.set_axis_off()
    ax.set_title(title, fontsize=11)
    return save_figure(fig, out)


def difference_map(region, diff: pd.DataFrame, scenario: str, reference: str, year: int, out: str | Path) -> Path:
    """Township population in ``scenario`` minus ``reference`` (mean over seeds), as a diverging map.

    ``diff`` has columns township and diff_mean (e.g. one scenario's rows of
    :func:`workflow.compare.township_difference`).
    """
    return township_map(region, diff.set_index("township")["diff_mean"], f"residents, {scenario} − {reference}, {year}",
                        f"{region.config.name}: residents in {scenario} minus {reference}, {year}\n"
                        "mean over seeds, paired by seed; township boundaries approximate", "{:+,.0f}", out)
