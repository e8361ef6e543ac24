"""A self-contained HTML report (pictures embedded) of a run folder or a compare folder, for sharing and printing.

``build_report(folder, region)`` reads what ``run.py run`` (run.json, county.csv, townships.csv) or ``run.py compare``
(compare.json, summary.csv, county_runs.csv, townships_runs.csv) wrote, draws the maps and charts, and writes
``<folder>/report/`` (report.html and its PNGs) atomically.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from geo.region import RegionDataError
from viz.charts import chart_indicators, flow_map, indicator_chart, indicator_label, township_bars, township_map
from viz.maps import save_figure

CSS = """
body{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei","Microsoft YaHei",sans-serif;max-width:1100px;margin:2em auto;
color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em} h2{border-bottom:2px solid #4c72b0;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em} caption{text-align:left;font-weight:bold;margin:.3em 0}
td,th{border:1px solid #bbb;padding:3px 6px} th{background:#eef2f8} td.num{text-align:right}
td.met{color:#1e7b34;font-weight:bold} td.unmet{color:#b03a2e;font-weight:bold}
figure{margin:1em 0;page-break-inside:avoid} figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.9em;color:#555} .meta{color:#555;font-size:.9em}
@media print{body{max-width:none;margin:0;font-size:9pt} h2{page-break-after:avoid} tr{page-break-inside:avoid}}
"""


@dataclass
class Report:
    """The report's parts, in order: (heading, html) sections; a section with an empty heading has none."""

    title: str
    subtitle: str
    sections: list[tuple[str, str]] = field(default_factory=list)


def folder_kind(folder: Path) -> str:
    """``"run"`` or ``"compare"``, from the folder's record file; a clear error for anything else."""
    folder = Path(folder)
    if (folder / "compare.json").exists():
        return "compare"
    if (folder / "run.json").exists():
        return "run"
    raise RegionDataError(folder, "not a run or compare folder (expected run.json from `run.py run` or compare.json from `run.py compare`)")


def build_report(folder: Path, region, year: int | None = None) -> Path:
    """Write ``<folder>/report/report.html`` (self-contained) and its PNGs; return the HTML's path.

    Parameters
    ----------
    folder : written by ``run.py run`` or ``run.py compare``.
    region : the loaded region the folder was run on (names, polygons, targets).
    year : year of the maps and township tables (default: the run's last year).

    Example
    -------
    >>> build_report(Path("runs/cmp"), load_region("configs/<region>"))   # doctest: +SKIP
    PosixPath('runs/cmp/report/report.html')
    """
    from workflow.io import atomic_folder

    folder = Path(folder)
    kind = folder_kind(folder)
    with atomic_folder(folder / "report", "report") as tmp:
        rep = _run_report(folder, region, year, tmp) if kind == "run" else _compare_report(folder, region, year, tmp)
        (tmp / "report.html").write_text(render_html(rep), encoding="utf-8")
    return folder / "report" / "report.html"


def render_html(rep: Report) -> str:
    """The report as one HTML page with every picture embedded as a data URL."""
    parts = [f"<h1>{html.escape(rep.title)}</h1>", f"<p class='meta'>{html.escape(rep.subtitle)}</p>"]
    for heading, body in rep.sections:
        parts.append((f"<h2>{html.escape(heading)}</h2>\n" if heading else "") + body)
    return ("<!doctype html><html lang='zh-Hans'><head><meta charset='utf-8'>"
            f"<title>{html.escape(rep.title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def markdown_report(markdown: str, folder: Path) -> str:
    r"""A report written in plain Markdown (``#`` title, ``##`` headings, paragraphs, pipe tables, ``![alt](file)``
    pictures from ``folder``) as one self-contained HTML page, styled like the run and compare reports.

    >>> "<table>" in markdown_report("# T\n\n## Fit\n\n| a | b |\n|---|---|\n| 1 | 2 |\n", Path("."))
    True
    """
    rep = Report(title="", subtitle="")
    heading, body = "", []

    def close() -> None:
        if heading or body:
            rep.sections.append((heading, "".join(body)))

    for block in (b.strip() for b in markdown.split("\n\n") if b.strip()):
        if block.startswith("# "):
            rep.title = block[2:].splitlines()[0]
        elif block.startswith("## "):
            close()
            heading, body = block[3:].splitlines()[0], []
            rest = "\n".join(block.splitlines()[1:])
            if rest.strip():
                body.append(f"<p>{html.escape(rest)}</p>")
        elif block.startswith("|"):
            cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in block.splitlines()]
            body.append(table_html([dict(zip(cells[0], row)) for row in cells[2:]]))
        elif block.startswith("!["):
            alt, _, name = block[2:].rstrip(")").partition("](")
            body.append(figure_html(Path(folder) / name, alt))
        else:
            body.append(f"<p>{html.escape(block)}</p>")
    close()
    return render_html(rep)


def figure_html(path: Path, caption: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(caption)} ({html.escape(Path(path).name)})</figcaption></figure>")


def table_html(rows: list[dict], caption: str = "", classes: dict | None = None) -> str:
    """A plain HTML table; values that look numeric are right-aligned, ``classes`` maps a value to a cell class."""
    if not rows:
        return "<p>(none)</p>"
    classes = classes or {}
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = []
    for r in rows:
        cells = []
        for v in r.values():
            text = str(v)
            cls = classes.get(text) or _status_class(text) or ("num" if text[:1] in "+-−0123456789" else "")
            cells.append(f"<td class='{cls}'>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<tr>{head}</tr>{''.join(body)}</table>"


def _status_class(text: str) -> str:
    """Colour a cell that ends in a target verdict ("... met (..)" or "... not met (..)")."""
    if "not met" in text:
        return "unmet"
    if text == "met" or " met (" in text or text.endswith(" met"):
        return "met"
    return ""


def _fmt(value: float, unit: str) -> str:
    return f"{value:,.0f}" if unit == "persons" else f"{value:.4g}" if unit not in ("share", "ratio") else f"{value:.2%}"


def _target_rows_run(region, county: pd.DataFrame) -> list[dict]:
    from workflow.compare import target_checks

    return [{"indicator": r["label"], "year": r["year"], "simulated": _fmt(r["value"], r["unit"]),
             "target": f"{'≥' if r['kind'] == 'min' else '≤'} {_fmt(r['goal'], r['unit'])}",
             "met": "met" if r["met"] else "not met"} for r in target_checks(region.config.targets, county)]


def _township_names(region) -> pd.DataFrame:
    return pd.DataFrame([{"township": t.code, "中文名": t.name_zh, "name": t.name_en} for t in region.townships])


def _provenance_rows(meta: dict, keys: list[str]) -> list[dict]:
    return [{"field": k, "value": json.dumps(meta[k], ensure_ascii=False) if isinstance(meta[k], (list, dict)) else str(meta[k])}
            for k in keys if k in meta]


def _run_report(folder: Path, region, year: int | None, out: Path) -> Report:
    meta = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    county = pd.read_csv(folder / "county.csv")
    towns = pd.read_csv(folder / "townships.csv", dtype={"township": str})
    start, last = int(county.year.min()), int(county.year.max())
    year = _check_year(folder, year, last, county.year)
    scenario = meta.get("scenario", "run")
    rep = Report(title=f"{region.config.name}: scenario {scenario}, {start}–{last}",
                 subtitle=f"Report made {_today()} from the run folder “{folder.name}”. One run: seed {meta.get('seed')}, "
                          f"scale {meta.get('scale')} (counts at full scale).")
    rep.sections.append(("Summary", _run_summary(region, county, start, last)))
    rep.sections.append(("Plan targets (simulated vs target)",
                         table_html(_target_rows_run(region, county), classes={"met": "met", "not met": "unmet"})))
    county = county.assign(scenario=scenario, seed=meta.get("seed", 0))
    indicators = chart_indicators(county.columns)
    img = indicator_chart(county, [scenario], region.config.targets, out / "indicators.png", indicators,
                          title=f"County indicators, scenario {scenario}, seed {meta.get('seed')}")
    rep.sections.append(("County indicators", figure_html(img, "County indicators over time; triangles are the plan's targets (▲ at least, ▼ at most)")))

    now = towns[towns.year == year].set_index("township")
    first = towns[towns.year == start].set_index("township")
    change = 100 * (now.population / first.population - 1)
    map_img = township_map(region, change, f"population change {start}–{year} (%)",
                           f"Population change by township, {start}–{year} (%)", "{:+.1f}%", out / f"change_{year}.png")
    pop_img = township_map(region, now.population, f"residents {year}", f"Resident population by township, {year}",
                           "{:,.0f}", out / f"population_{year}.png", diverging=False)
    bars = save_figure(township_bars(region, now.population, first.population, year, start), out / f"townships_{year}.png")
    flows_html = ""
    if (folder / "flows.parquet").exists():
        flows = pd.read_parquet(folder / "flows.parquet")
        flows = flows[(flows.year > start) & (flows.year <= year)]
        flow_img = flow_map(region, flows, f"Moves between townships, {start + 1}–{year} (flows.parquet)", out / f"flows_{year}.png")
        flows_html = figure_html(flow_img, f"The largest moves between townships, {start + 1}–{year}, summed over the years")
    rep.sections.append(("Maps", figure_html(pop_img, f"Residents by township, {year}")
                         + figure_html(map_img, f"Population change since {start}; red = loss, blue = gain")
                         + figure_html(bars, f"Township populations {year}, tick = {start}") + flows_html))
    names = _township_names(region).set_index("township")
    rows = []
    for code in region.codes:
        urban = now.urban_population[code] / now.population[code] if now.population[code] else 0.0
        rows.append({"code": code, "中文名": names.loc[code, "中文名"], "name": names.loc[code, "name"],
                     f"residents {start}": f"{first.population[code]:,.0f}", f"residents {year}": f"{now.population[code]:,.0f}",
                     "change": f"{change[code]:+.1f}%", f"urban share {year}": f"{urban:.1%}"})
    rep.sections.append((f"Townships, {year}", table_html(rows)))
    if "workers" in now:  # runs made before the labour account have no labour columns
        rows = [{"code": code, "中文名": names.loc[code, "中文名"], "name": names.loc[code, "name"],
                 "jobs": f"{now.jobs[code]:,.0f}", "filled": f"{now.workers[code]:,.0f}",
                 "unfilled": f"{now.job_vacancies[code]:,.0f}", "employed residents": f"{now.employed_residents[code]:,.0f}",
                 "commuting in": f"{now.in_commuters[code]:,.0f}", "commuting out": f"{now.out_commuters[code]:,.0f}",
                 "of whom outside the region": f"{now.out_commuters_external[code]:,.0f}"} for code in region.codes]
        rep.sections.append((f"Jobs and commuting, {year}", "<p>Jobs filled = residents and in-commuters working in the "
                             "township; commuting in/out counts other townships and the neighbouring labour markets.</p>"
                             + table_html(rows)))
    rep.sections.append(("Levers of the scenario", _levers_html(meta.get("scenario_detail", {}))))
    rep.sections.append(("Provenance", table_html(_provenance_rows(meta, [
        "region", "region_name", "scenario", "start", "end", "seed", "scale", "version", "git_commit", "git_dirty",
        "parameter_overrides", "runtime_seconds", "households_simulated_at_end"]))))
    return rep


def _today() -> str:
    import datetime

    return datetime.date.today().isoformat()


def _run_summary(region, county: pd.DataFrame, start: int, last: int) -> str:
    """Two sentences: residents at the start and the end, and how many plan targets are met."""
    c = county.set_index("year")
    from workflow.compare import target_checks

    checks = [r for r in target_checks(region.config.targets, county) if r.get("met") is not None]
    met = sum(bool(r["met"]) for r in checks)
    text = (f"Residents {c.population.loc[start]:,.0f} in {start} and {c.population.loc[last]:,.0f} in {last} "
            f"({c.population.loc[last] / c.population.loc[start] - 1:+.1%}).")
    if "primacy" in c:
        text += f" Main-centre share {c.primacy.loc[start]:.1%} → {c.primacy.loc[last]:.1%}."
    if checks:
        text += f" {met} of {len(checks)} plan targets met."
    elif region.config.targets:
        text += f" None of the plan's target years falls in {start}–{last}."
    else:
        text += " The region has no plan targets."
    return f"<p>{html.escape(text)}</p>"


def _compare_summary(region, summary: pd.DataFrame, scenarios: list[str], reference: str, last: int,
                     noise_word: str = "seed noise") -> str:
    """One sentence per scenario: its residents in the last year against the reference, with the interval."""
    items = []
    for s in scenarios:
        r = summary[(summary.scenario == s) & (summary.indicator == "population") & (summary.year == last)]
        if r.empty:
            continue
        r = r.iloc[0]
        if s == reference:
            items.append(f"{s}: {r['mean']:,.0f} residents in {last}.")
        else:
            noise = f"beyond {noise_word}" if r.diff_p05 > 0 or r.diff_p95 < 0 else f"within {noise_word}"
            items.append(f"{s}: {r.diff_mean:+,.0f} residents against {reference} in {last} "
                         f"[{r.diff_p05:+,.0f}, {r.diff_p95:+,.0f}], {noise}.")
    return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"


def _compare_report(folder: Path, region, year: int | None, out: Path) -> Report:
    from viz.charts import difference_map

    meta = json.loads((folder / "compare.json").read_text(encoding="utf-8"))
    summary = pd.read_csv(folder / "summary.csv")
    county = pd.read_csv(folder / "county_runs.csv")
    scenarios, reference = meta["scenarios"], meta["reference"]
    last = int(county.year.max())
    year = _check_year(folder, year, last, county.year)
    sets = (meta.get("parameter_sets") or {}).get("members")
    if sets:
        what = (f"{len(meta['seeds'])} seeds x {len(sets)} parameter sets from a history match per scenario (paired by set "
                f"and seed), scale {meta['scale']}; intervals are 5%–95% over sets and seeds: parameter uncertainty and "
                "seed noise together.")
        noise_word = "parameter uncertainty and seed noise"
    else:
        what = (f"{len(meta['seeds'])} seeds per scenario (common random numbers), scale {meta['scale']}; intervals are "
                "5%–95% over seeds: seed noise only, one parameter set (params.yaml).")
        noise_word = "seed noise"
    rep = Report(title=f"{region.config.name}: {len(scenarios)} scenarios compared, {meta['start']}–{meta['end']}",
                 subtitle=f"Report made {_today()} from the compare folder “{folder.name}”. {what} Reference: {reference}.")
    rep.sections.append(("Summary", _compare_summary(region, summary, scenarios, reference, last, noise_word)))
    rows = []
    with_target = summary[summary.target.notna()] if "target" in summary.columns else summary.iloc[0:0]
    for (ind, y), g in with_target.groupby(["indicator", "year"], sort=False):
        t = region.config.targets.get(ind)
        unit = t.unit if t else "share"
        row = {"indicator": t.label if t else ind, "year": int(y),
               "target": f"{'≥' if g.kind.iloc[0] == 'min' else '≤'} {_fmt(g.target.iloc[0], unit)}"}
        for s in scenarios:
            r = g[g.scenario == s]
            if len(r):
                r = r.iloc[0]
                row[s] = f"{_fmt(r['mean'], unit)} [{_fmt(r.p05, unit)}–{_fmt(r.p95, unit)}] {'met' if r.met else 'not met'} ({r.met_share:.0%} of seeds)"
        rows.append(row)
    rep.sections.append(("Plan targets by scenario (mean [5%–95%], met by the mean, share of seeds meeting it)", table_html(rows)))
    rep.sections.append((f"Differences from {reference} (mean over seeds, paired by seed, [5%, 95%])",
                         table_html(_difference_rows(summary, scenarios, reference, last))))
    img = indicator_chart(county, scenarios, region.config.targets, out / "indicators.png")
    rep.sections.append(("County indicators", figure_html(img, "Mean over seeds with the 90% band; triangles are the plan's targets")))
    diff_file = folder / f"township_difference_{year}.csv"
    maps = []
    if diff_file.exists():
        diff = pd.read_csv(diff_file, dtype={"township": str})
        for s in scenarios:
            if s == reference:
                continue
            maps.append(figure_html(difference_map(region, diff[diff.scenario == s], s, reference, year, out / f"difference_{s}_{year}.png"),
                                    f"Township residents in {s} minus {reference}, {year} (mean over seeds)"))
        names = _township_names(region)
        wide = diff.pivot(index="township", columns="scenario", values="diff_mean").reset_index().merge(names, on="township")
        trows = [{"code": r.township, "中文名": r["中文名"], "name": r["name"],
                  **{f"{s} − {reference}": f"{r[s]:+,.0f}" for s in scenarios if s != reference and s in wide.columns}}
                 for _, r in wide.iterrows()]
        maps.append(table_html(trows, caption=f"Township residents, difference from {reference}, {year}"))
    rep.sections.append((f"Where people live, {year}", "".join(maps) or f"<p>(no township_difference_{year}.csv in the folder)</p>"))
    for s in scenarios:
        detail = meta.get("scenario_runs", {}).get(s, {}).get("scenario_detail", {})
        rep.sections.append((f"Levers of {s}", _levers_html(detail)))
    rep.sections.append(("Provenance", table_html(_provenance_rows(meta, [
        "region", "scenarios", "reference", "seeds", "scale", "start", "end", "common_random_numbers", "version",
        "git_commit", "git_dirty"]))))
    return rep


def _difference_rows(summary: pd.DataFrame, scenarios: list[str], reference: str, last: int) -> list[dict]:
    """One row per chart indicator and target year, one column per scenario: its paired difference from the reference."""
    years = sorted({y for y in (2025, 2030, 2035, last) if y in set(summary.year)})
    rows = []
    for ind in chart_indicators(list(dict.fromkeys(summary.indicator))):
        label, unit = indicator_label(ind)
        f = (lambda v: f"{v:+,.0f}") if unit == "persons" else (lambda v: f"{100 * v:+.2f} pt")
        for y in years:
            row = {"indicator": label, "year": y}
            for s in scenarios:
                if s == reference:
                    continue
                r = summary[(summary.scenario == s) & (summary.indicator == ind) & (summary.year == y)]
                if len(r):
                    r = r.iloc[0]
                    row[s] = f"{f(r.diff_mean)} [{f(r.diff_p05)}, {f(r.diff_p95)}]"
            rows.append(row)
    return rows


def _levers_html(detail: dict) -> str:
    desc = f"<p>{html.escape(detail.get('description', ''))}</p>" if detail.get("description") else ""
    rows = [{"type": lv.get("type", ""), "what": ", ".join(f"{k}={v}" for k, v in lv.items() if k not in ("type", "source", "note")),
             "source": lv.get("source", "")} for lv in detail.get("levers", [])]
    return desc + (table_html(rows) if rows else "<p>No levers (the baseline).</p>")


def _check_year(folder: Path, year: int | None, last: int, years: pd.Series) -> int:
    if year is None:
        return last
    if year not in set(years):
        raise RegionDataError(folder, f"--year {year} is not in the results (years {int(years.min())}–{int(years.max())})")
    return year
