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
from viz.charts import chart_indicators, flow_map, indicator_chart, township_bars, township_map
from viz.maps import save_figure
from viz.words import (in_language, indicator_label, lever_sentence, noise_phrase, region_labels,
                       scenario_description, scenario_title)
from workflow.io import (check_flow_places, check_result_townships, check_same_years, damaged_file, read_record,
                         read_result)
from workflow.io import folder_kind as recorded_kind  # narrowed by this module's folder_kind to folders with a report

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
    """``"run"`` or ``"compare"``, from the folder's record file (:func:`workflow.io.folder_kind`); a clear error for
    anything else, a batch folder included (it has no report)."""
    kind = recorded_kind(folder)
    if kind == "batch":
        raise RegionDataError(folder, "a batch folder, which has no report; expected a run or compare folder (run.json "
                                      "or compare.json). A batch's results open in pandas or DuckDB (docs/batch.md), "
                                      "and `run.py export` writes them as GIS layers")
    return kind


def build_report(folder: Path, region, year: int | None = None, lang: str = "en") -> Path:
    """Write ``<folder>/report/report.html`` (self-contained) and its PNGs; return the HTML's path.

    Parameters
    ----------
    folder : written by ``run.py run`` or ``run.py compare``.
    region : the loaded region the folder was run on (names, polygons, targets).
    year : year of the maps and township tables (default: the run's last year).
    lang : ``"zh"`` for a report in Chinese (every heading, table, chart and lever sentence; township names in
        Chinese), ``"en"`` for English (township names Chinese first).

    Example
    -------
    >>> build_report(Path("runs/cmp"), load_region("configs/<region>"))   # doctest: +SKIP
    PosixPath('runs/cmp/report/report.html')
    """
    from workflow.io import atomic_folder
    from workflow.outdir import check_own_folder

    folder = Path(folder)
    kind = folder_kind(folder)
    check_own_folder(folder / "report", "report")
    with atomic_folder(folder / "report", "report") as tmp:
        make = _run_report if kind == "run" else _compare_report
        rep = make(folder, region, year, tmp, lang)
        (tmp / "report.html").write_text(render_html(rep, lang), encoding="utf-8")
    return folder / "report" / "report.html"


def render_html(rep: Report, lang: str = "en") -> str:
    """The report as one HTML page with every picture embedded as a data URL."""
    parts = [f"<h1>{html.escape(rep.title)}</h1>", f"<p class='meta'>{html.escape(rep.subtitle)}</p>"]
    for heading, body in rep.sections:
        parts.append((f"<h2>{html.escape(heading)}</h2>\n" if heading else "") + body)
    return (f"<!doctype html><html lang='{'zh-Hans' if lang == 'zh' else 'en'}'><head><meta charset='utf-8'>"
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
    """Colour a cell that ends in a target verdict ("... met (..)" or "... not met (..)"; 达到 or 未达到 in Chinese)."""
    if "not met" in text or "未达到" in text:
        return "unmet"
    if text == "met" or " met (" in text or text.endswith(" met") or "达到" in text:
        return "met"
    return ""


def _fmt(value: float, unit: str) -> str:
    return f"{value:,.0f}" if unit == "persons" else f"{value:.4g}" if unit not in ("share", "ratio") else f"{value:.2%}"


def _t(lang: str, en: str, zh: str) -> str:
    return zh if lang == "zh" else en


def _verdict(met: bool, lang: str) -> str:
    """A target verdict in ``lang`` (the cell is coloured by :func:`_status_class`)."""
    return _t(lang, "met" if met else "not met", "达到" if met else "未达到")


def _target_rows_run(region, county: pd.DataFrame, lang: str = "en") -> list[dict]:
    from workflow.compare import target_checks

    return [{_t(lang, "indicator", "指标"): in_language(r["label"], lang), _t(lang, "year", "年份"): r["year"],
             _t(lang, "simulated", "模拟值"): _fmt(r["value"], r["unit"]),
             _t(lang, "target", "目标"): f"{'≥' if r['kind'] == 'min' else '≤'} {_fmt(r['goal'], r['unit'])}",
             _t(lang, "met", "是否达到"): _verdict(r["met"], lang)} for r in target_checks(region.config.targets, county)]


def _names(region, code: str, lang: str) -> dict:
    """A township's name columns, Chinese first (Chinese only in a Chinese report)."""
    t = region.township(code)
    if lang == "zh":
        return {"乡镇": t.name_zh}
    return {"中文名": t.name_zh, "township": t.name_en}


def _provenance_rows(meta: dict, keys: list[str], lang: str = "en") -> list[dict]:
    # the keys are run.json's own field names: kept as they are so a reader can find them in the file
    return [{_t(lang, "field", "字段"): k,
             _t(lang, "value", "取值"): json.dumps(meta[k], ensure_ascii=False) if isinstance(meta[k], (list, dict)) else str(meta[k])}
            for k in keys if k in meta]


JOB_TABLE_COLUMNS = ("jobs", "workers", "job_vacancies", "employed_residents", "in_commuters", "out_commuters",
                     "out_commuters_external")


def _run_report(folder: Path, region, year: int | None, out: Path, lang: str = "en") -> Report:
    meta = read_record(folder / "run.json")
    county = read_result(folder / "county.csv", ("year", "population"), numeric=True)
    towns = read_result(folder / "townships.csv", ("year", "township", "population", "urban_population"), text=("township",),
                        numeric=True)
    check_result_townships(folder / "townships.csv", towns, region.codes, region_name=region.config.name)
    check_same_years(folder / "county.csv", county, towns.year, "townships.csv")
    start, last = int(county.year.min()), int(county.year.max())
    year = _check_year(folder, year, last, county.year)
    scenario = meta.get("scenario", "run")
    detail = meta.get("scenario_detail", {}) or {"name": scenario}
    title = scenario_title(detail, lang)
    place = _region_name(region, lang)
    labels = region_labels(region.config)
    rep = Report(title=_t(lang, f"{place}: {title}, {start}–{last}", f"{place}：{title}，{start}–{last}年"),
                 subtitle=_t(lang, f"Report made {_today()} from the run folder “{folder.name}” (scenario {scenario}). One run: "
                                   f"seed {meta.get('seed')}, scale {meta.get('scale')} (counts at full scale).",
                             f"报告生成于 {_today()}，来自运行文件夹“{folder.name}”（情景代码 {scenario}）。单次运行：随机种子 "
                             f"{meta.get('seed')}，抽样比例 {meta.get('scale')}（人数已换算为全县规模）。"))
    rep.sections.append((_t(lang, "Summary", "摘要"), _run_summary(region, county, start, last, lang)))
    rep.sections.append((_t(lang, "Plan targets (simulated vs target)", "规划目标（模拟值与目标值）"),
                         table_html(_target_rows_run(region, county, lang))))
    county = county.assign(scenario=scenario, seed=meta.get("seed", 0))
    indicators = chart_indicators(county)
    img = indicator_chart(county, [scenario], region.config.targets, out / "indicators.png", indicators,
                          title=_t(lang, f"County indicators, {title}, seed {meta.get('seed')}",
                                   f"县域指标：{title}，随机种子 {meta.get('seed')}"),
                          lang=lang, labels=labels, names={scenario: title})
    rep.sections.append((_t(lang, "County indicators", "县域指标"), figure_html(img, _t(
        lang, "County indicators over time; triangles are the plan's targets (▲ at least, ▼ at most)",
        "县域指标随时间变化；三角形为规划目标（▲ 下限，▼ 上限）"))))

    now = towns[towns.year == year].set_index("township")
    first = towns[towns.year == start].set_index("township")
    change = 100 * (now.population / first.population - 1)
    map_img = township_map(region, change, _t(lang, f"population change {start}–{year} (%)", f"{start}–{year}年人口变化（%）"),
                           _t(lang, f"Population change by township, {start}–{year} (%)", f"{start}–{year}年各乡镇人口变化（%）"),
                           "{:+.1f}%", out / f"change_{year}.png", lang=lang)
    pop_img = township_map(region, now.population, _t(lang, f"residents {year}", f"{year}年常住人口"),
                           _t(lang, f"Resident population by township, {year}", f"{year}年各乡镇常住人口"),
                           "{:,.0f}", out / f"population_{year}.png", diverging=False, lang=lang)
    bars = save_figure(township_bars(region, now.population, first.population, year, start, lang=lang),
                       out / f"townships_{year}.png")
    flows_html = ""
    if (folder / "flows.parquet").exists():
        flows = read_result(folder / "flows.parquet", ("year", "origin", "destination", "persons"), text=("origin", "destination"))
        check_flow_places(folder / "flows.parquet", flows, [*region.codes, *(z.id for z in region.config.external_zones)])
        flows = flows[(flows.year > start) & (flows.year <= year)]
        flow_img = flow_map(region, flows, _t(lang, f"Moves between townships, {start + 1}–{year} (flows.parquet)",
                                              f"{start + 1}–{year}年乡镇间迁移（flows.parquet）"),
                            out / f"flows_{year}.png", lang=lang)
        flows_html = figure_html(flow_img, _t(lang, f"The largest moves between townships, {start + 1}–{year}, summed over the years",
                                              f"{start + 1}–{year}年乡镇间最大的迁移流（各年合计）"))
    rep.sections.append((_t(lang, "Maps", "地图"),
                         figure_html(pop_img, _t(lang, f"Residents by township, {year}", f"{year}年各乡镇常住人口"))
                         + figure_html(map_img, _t(lang, f"Population change since {start}; red = loss, blue = gain",
                                                   f"{start}年以来的人口变化；红色为减少，蓝色为增加"))
                         + figure_html(bars, _t(lang, f"Township populations {year}, tick = {start}",
                                                f"{year}年各乡镇常住人口，刻度为{start}年")) + flows_html))
    rows = []
    for code in region.codes:
        urban = now.urban_population[code] / now.population[code] if now.population[code] else 0.0
        rows.append({**_names(region, code, lang), _t(lang, "code", "代码"): code,
                     _t(lang, f"residents {start}", f"{start}年常住人口"): f"{first.population[code]:,.0f}",
                     _t(lang, f"residents {year}", f"{year}年常住人口"): f"{now.population[code]:,.0f}",
                     _t(lang, "change", "变化"): f"{change[code]:+.1f}%",
                     _t(lang, f"urban share {year}", f"{year}年城镇人口占比"): f"{urban:.1%}",
                     # runs made before the township age groups have no such column
                     **({_t(lang, f"aged 60+ {year}", f"{year}年60岁及以上占比"):
                         f"{now.aged60[code] / now.population[code]:.1%}" if now.population[code] else "–"}
                        if "aged60" in now else {})})
    rep.sections.append((_t(lang, f"Townships, {year}", f"{year}年各乡镇"), table_html(rows)))
    if all(c in now for c in JOB_TABLE_COLUMNS):  # runs made before the labour account have no labour columns
        rows = [{**_names(region, code, lang), _t(lang, "code", "代码"): code,
                 _t(lang, "jobs", "就业岗位"): f"{now.jobs[code]:,.0f}", _t(lang, "filled", "已填补"): f"{now.workers[code]:,.0f}",
                 _t(lang, "unfilled", "空缺"): f"{now.job_vacancies[code]:,.0f}",
                 _t(lang, "employed residents", "就业居民"): f"{now.employed_residents[code]:,.0f}",
                 _t(lang, "commuting in", "通勤流入"): f"{now.in_commuters[code]:,.0f}",
                 _t(lang, "commuting out", "通勤流出"): f"{now.out_commuters[code]:,.0f}",
                 _t(lang, "of whom outside the region", "其中流出本地区"): f"{now.out_commuters_external[code]:,.0f}"}
                for code in region.codes]
        rep.sections.append((_t(lang, f"Jobs and commuting, {year}", f"{year}年就业与通勤"), _t(
            lang, "<p>Jobs filled = residents and in-commuters working in the township; commuting in/out counts other "
                  "townships and the neighbouring labour markets.</p>",
            "<p>已填补岗位 = 在本乡镇工作的居民和通勤流入者；通勤流入、流出包括其他乡镇和周边劳动力市场。</p>")
            + table_html(rows)))
    rep.sections.append((_t(lang, f"What the scenario does: {title}", f"情景内容：{title}"), _levers_html(detail, region, lang)))
    rep.sections.append((_t(lang, "Provenance", "数据来源与可复现信息"), table_html(_provenance_rows(meta, [
        "region", "region_name", "scenario", "start", "end", "seed", "scale", "version", "git_commit", "git_dirty",
        "parameter_overrides", "runtime_seconds", "households_simulated_at_end"], lang))))
    return rep


def _region_name(region, lang: str) -> str:
    return (getattr(region.config, "name_local", None) or region.config.name) if lang == "zh" else region.config.name


def _today() -> str:
    import datetime

    return datetime.date.today().isoformat()


def _run_summary(region, county: pd.DataFrame, start: int, last: int, lang: str = "en") -> str:
    """Two sentences: residents at the start and the end, and how many plan targets are met."""
    c = county.set_index("year")
    from workflow.compare import target_checks

    checks = [r for r in target_checks(region.config.targets, county) if r.get("met") is not None]
    met = sum(bool(r["met"]) for r in checks)
    p0, p1 = c.population.loc[start], c.population.loc[last]
    text = _t(lang, f"Residents {p0:,.0f} in {start} and {p1:,.0f} in {last} ({p1 / p0 - 1:+.1%}).",
              f"常住人口 {start}年 {p0:,.0f} 人，{last}年 {p1:,.0f} 人（{p1 / p0 - 1:+.1%}）。")
    if "primacy" in c:
        text += _t(lang, f" Main-centre share {c.primacy.loc[start]:.1%} → {c.primacy.loc[last]:.1%}.",
                   f"主中心首位度 {c.primacy.loc[start]:.1%} → {c.primacy.loc[last]:.1%}。")
    if checks:
        text += _t(lang, f" {met} of {len(checks)} plan targets met.", f"{len(checks)} 项规划目标中达到 {met} 项。")
    elif region.config.targets:
        text += _t(lang, f" None of the plan's target years falls in {start}–{last}.", f"规划目标年份均不在 {start}–{last} 年内。")
    else:
        text += _t(lang, " The region has no plan targets.", "本地区没有规划目标。")
    return f"<p>{html.escape(text)}</p>"


def _compare_summary(region, summary: pd.DataFrame, scenarios: list[str], reference: str, last: int,
                     noise_word: str = "seed noise", lang: str = "en", names: dict | None = None) -> str:
    """One sentence per scenario: its residents in the last year against the reference, with the interval."""
    from workflow.compare import agreement_odds, noise_verdict

    names = names or {}
    ref = names.get(reference, reference)
    items = []
    for s in scenarios:
        r = summary[(summary.scenario == s) & (summary.indicator == "population") & (summary.year == last)]
        if r.empty:
            continue
        r = r.iloc[0]
        title = names.get(s, s)
        if s == reference:
            items.append(_t(lang, f"{title}: {r['mean']:,.0f} residents in {last}.", f"{title}：{last}年常住人口 {r['mean']:,.0f} 人。"))
        else:
            pairs = int(r.seeds)
            verdict = noise_verdict(r.diff_p05, r.diff_p95, pairs)
            if verdict == "none":  # one run per scenario: no interval (workflow.compare.paired_interval)
                items.append(_t(lang, f"{title}: {r.diff_mean:+,.0f} residents against {ref} in {last}, from one run "
                                      "each: no interval, so nothing can be said about seed noise.",
                                f"{title}：{last}年常住人口比“{ref}”{r.diff_mean:+,.0f} 人，各只有一次运行：没有区间，"
                                "无法判断是否超出随机波动。"))
                continue
            noise = noise_phrase(verdict, pairs, agreement_odds(pairs), lang, noise_word)
            items.append(_t(lang, f"{title}: {r.diff_mean:+,.0f} residents against {ref} in {last} "
                                  f"[{r.diff_p05:+,.0f}, {r.diff_p95:+,.0f}], {noise}.",
                            f"{title}：{last}年常住人口比“{ref}”{r.diff_mean:+,.0f} 人"
                            f"（90% 区间 {r.diff_p05:+,.0f} 至 {r.diff_p95:+,.0f}），{noise}。"))
    return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"


def _compare_report(folder: Path, region, year: int | None, out: Path, lang: str = "en") -> Report:
    from viz.charts import difference_map
    from workflow.compare import MIN_PAIRS_FOR_NOISE, agreement_odds

    meta = read_record(folder / "compare.json", ("scenarios", "reference", "seeds", "scale", "start", "end"))
    summary = read_result(folder / "summary.csv", ("scenario", "indicator", "year", "seeds", "mean", "diff_mean"),
                          text=("scenario", "indicator"), gaps=("p05", "p95", "diff_p05", "diff_p95"),
                          numeric=("target", "met_share"))
    missing = [c for c in ("kind", "met", "met_share") if c not in summary.columns]
    if "target" in summary.columns and missing:  # a region with targets: how each was met, too
        raise damaged_file(folder / "summary.csv", f"missing column(s) {', '.join(missing)}")
    county = read_result(folder / "county_runs.csv", ("year", "scenario", "seed", "population"), text=("scenario",),
                         numeric=True)
    scenarios, reference = meta["scenarios"], meta["reference"]
    details = {s: meta.get("scenario_runs", {}).get(s, {}).get("scenario_detail", {}) or {"name": s} for s in scenarios}
    names = {s: scenario_title(details[s], lang) for s in scenarios}
    ref = names[reference]
    last = int(county.year.max())
    year = _check_year(folder, year, last, county.year)
    labels = region_labels(region.config)
    place = _region_name(region, lang)
    sets = (meta.get("parameter_sets") or {}).get("members")
    n_seeds = len(meta["seeds"])
    pairs = n_seeds * (len(sets) if sets else 1)  # paired differences behind each interval
    if sets:
        what = _t(lang, f"{n_seeds} seeds x {len(sets)} parameter sets from a history match per scenario (paired by set "
                        f"and seed), scale {meta['scale']}; intervals are 5%–95% over sets and seeds: parameter uncertainty "
                        "and seed noise together.",
                  f"每个情景 {n_seeds} 个随机种子 × {len(sets)} 组历史拟合参数（按参数组和种子配对），抽样比例 {meta['scale']}；"
                  "区间为各参数组和种子的 5%–95%，同时反映参数不确定性和随机波动。")
        noise_word = _t(lang, "parameter uncertainty and seed noise", "参数不确定性和随机波动")
    else:
        what = _t(lang, f"{n_seeds} seeds per scenario (common random numbers), scale {meta['scale']}; intervals are "
                        "5%–95% over seeds: seed noise only, one parameter set (params.yaml).",
                  f"每个情景 {n_seeds} 个随机种子（共同随机数），抽样比例 {meta['scale']}；区间为各种子的 5%–95%，"
                  "仅反映随机波动，参数为一组（params.yaml）。")
        noise_word = _t(lang, "seed noise", "随机波动")
    rep = Report(title=_t(lang, f"{place}: {len(scenarios)} scenarios compared, {meta['start']}–{meta['end']}",
                          f"{place}：{len(scenarios)} 个情景比较，{meta['start']}–{meta['end']}年"),
                 subtitle=_t(lang, f"Report made {_today()} from the compare folder “{folder.name}”. {what} Reference: {ref}.",
                             f"报告生成于 {_today()}，来自比较文件夹“{folder.name}”。{what}参照情景：{ref}。"))
    rep.sections.append((_t(lang, "Summary", "摘要"),
                         _compare_summary(region, summary, scenarios, reference, last, noise_word, lang, names)))
    rep.sections.append((_t(lang, "The scenarios", "情景"), _scenario_list(details, names, lang)))
    rows = []
    with_target = summary[summary.target.notna()] if "target" in summary.columns else summary.iloc[0:0]
    for (ind, y), g in with_target.groupby(["indicator", "year"], sort=False):
        t = region.config.targets.get(ind)
        unit = t.unit if t else "share"
        row = {_t(lang, "indicator", "指标"): in_language(t.label, lang) if t else ind, _t(lang, "year", "年份"): int(y),
               _t(lang, "target", "目标"): f"{'≥' if g.kind.iloc[0] == 'min' else '≤'} {_fmt(g.target.iloc[0], unit)}"}
        for s in scenarios:
            r = g[g.scenario == s]
            if len(r):
                r = r.iloc[0]
                spread = f" [{_fmt(r.p05, unit)}–{_fmt(r.p95, unit)}]" if r.p05 == r.p05 else ""  # none from one run
                row[names[s]] = (f"{_fmt(r['mean'], unit)}{spread} {_verdict(r.met, lang)} "
                                 + _t(lang, f"({r.met_share:.0%} of seeds)", f"（{r.met_share:.0%} 的种子达到）"))
        rows.append(row)
    rep.sections.append((_t(lang, "Plan targets by scenario (mean [5%–95%], met by the mean, share of seeds meeting it)",
                            "各情景的规划目标（均值 [5%–95%]，按均值判断是否达到，达到目标的种子比例）"), table_html(rows)))
    times = agreement_odds(pairs)
    star = (_t(lang, "* the interval excludes 0", "* 表示区间不含 0") if pairs >= MIN_PAIRS_FOR_NOISE else
            _t(lang, "no interval from one run", "只有一次运行，没有区间") if pairs <= 1 else
            _t(lang, f"no star: with {pairs} paired runs an unchanged value's interval would exclude 0 about 1 time "
                     f"in {times}", f"不标 *：只有 {pairs} 组配对运行，即使没有效应，区间也约有 1/{times} 的概率不含 0"))
    rep.sections.append((_t(lang, f"Differences from {ref} (mean over seeds, paired by seed, [5%, 95%])",
                            f"与“{ref}”的差值（按随机种子配对的均值 [5%, 95%]）"),
                         table_html(_difference_rows(summary, scenarios, reference, last, lang, labels, names),
                                    caption=star)))
    img = indicator_chart(county, scenarios, region.config.targets, out / "indicators.png", lang=lang, labels=labels,
                          names=names)
    rep.sections.append((_t(lang, "County indicators", "县域指标"), figure_html(img, _t(
        lang, "Mean over seeds with the 90% band; triangles are the plan's targets",
        "各随机种子的均值及 90% 区间；三角形为规划目标"))))
    diff_file = folder / f"township_difference_{year}.csv"
    maps = []
    if diff_file.exists():
        diff = read_result(diff_file, ("scenario", "township", "diff_mean"), text=("scenario", "township"),
                           numeric=("population", "diff_p05", "diff_p95", "pairs"))
        check_result_townships(diff_file, diff, region.codes, by=("scenario",), region_name=region.config.name)
        for s in scenarios:
            if s == reference:
                continue
            maps.append(figure_html(difference_map(region, diff[diff.scenario == s], s, reference, year,
                                                   out / f"difference_{s}_{year}.png", lang=lang, names=names,
                                                   pairs=pairs),
                                    _t(lang, f"Township residents in {names[s]} minus {ref}, {year} (mean over seeds)",
                                       f"{year}年各乡镇常住人口：“{names[s]}”减“{ref}”（各种子均值）")))
        maps.append(table_html(_township_difference_rows(region, diff, scenarios, reference, lang, names, pairs),
                               caption=_t(lang, f"Township residents, difference from {ref}, {year}: mean of the paired "
                                                f"differences [5%, 95%]; {star}",
                                          f"{year}年各乡镇常住人口与“{ref}”之差：配对差值均值 [5%, 95%]；{star}")))
    rep.sections.append((_t(lang, f"Where people live, {year}", f"{year}年人口分布"),
                         "".join(maps) or f"<p>(no township_difference_{year}.csv in the folder)</p>"))
    for s in scenarios:
        rep.sections.append((_t(lang, f"What the scenario does: {names[s]}", f"情景内容：{names[s]}"),
                             _levers_html(details[s], region, lang)))
    rep.sections.append((_t(lang, "Provenance", "数据来源与可复现信息"), table_html(_provenance_rows(meta, [
        "region", "scenarios", "reference", "seeds", "scale", "start", "end", "common_random_numbers", "version",
        "git_commit", "git_dirty"], lang))))
    return rep


def _scenario_list(details: dict, names: dict, lang: str) -> str:
    """Each scenario's title, code name (as run.py knows it) and description."""
    items = [f"<li><b>{html.escape(names[s])}</b> <small>({html.escape(s)})</small>: "
             f"{html.escape(scenario_description(d, lang))}</li>" for s, d in details.items()]
    return "<ul>" + "".join(items) + "</ul>"


def _township_difference_rows(region, diff: pd.DataFrame, scenarios: list[str], reference: str, lang: str,
                              names: dict, pairs: int) -> list[dict]:
    """One row per township (Chinese name first): each scenario's paired difference from the reference with its
    interval, starred where the difference is beyond seed noise (the interval excludes 0 and there are ``pairs``
    of at least :data:`workflow.compare.MIN_PAIRS_FOR_NOISE`)."""
    from workflow.compare import difference_text

    d = diff.set_index(["scenario", "township"])
    rows = []
    for code in region.codes:
        row = {**_names(region, code, lang), _t(lang, "code", "代码"): code}
        for s in scenarios:
            if s == reference or (s, code) not in d.index:
                continue
            r = d.loc[(s, code)]
            nan = float("nan")  # a folder written before the intervals has none
            row[names[s]] = difference_text(r.diff_mean, r.get("diff_p05", nan), r.get("diff_p95", nan), pairs)
        rows.append(row)
    return rows


def _difference_rows(summary: pd.DataFrame, scenarios: list[str], reference: str, last: int, lang: str = "en",
                     labels: dict | None = None, names: dict | None = None) -> list[dict]:
    """One row per chart indicator and target year, one column per scenario: its paired difference from the reference,
    starred where it is beyond seed noise (:func:`workflow.compare.noise_verdict`)."""
    from workflow.compare import difference_text

    names = names or {}
    years = sorted({y for y in (2025, 2030, 2035, last) if y in set(summary.year)})
    rows = []
    for ind in chart_indicators(list(dict.fromkeys(summary.indicator))):
        label, unit = indicator_label(ind, lang, labels)
        f = (lambda v: f"{v:+,.0f}") if unit == "persons" else (lambda v: f"{100 * v:+.2f}")
        after = "" if unit == "persons" else _t(lang, " pt", " 个百分点")
        for y in years:
            row = {_t(lang, "indicator", "指标"): label, _t(lang, "year", "年份"): y}
            for s in scenarios:
                if s == reference:
                    continue
                r = summary[(summary.scenario == s) & (summary.indicator == ind) & (summary.year == y)]
                if len(r):
                    r = r.iloc[0]
                    row[names.get(s, s)] = difference_text(r.diff_mean, r.diff_p05, r.diff_p95, int(r.seeds), f, after)
            rows.append(row)
    return rows


def _levers_html(detail: dict, region=None, lang: str = "en") -> str:
    """The scenario's description and one sentence per lever (what it does, where, when), with its source."""
    text = scenario_description(detail, lang)
    desc = f"<p>{html.escape(text)}</p>" if text else ""
    rows = [{_t(lang, "lever", "政策"): lever_sentence(lv, region, lang), _t(lang, "source", "依据"): lv.get("source", "")}
            for lv in detail.get("levers", [])]
    return desc + (table_html(rows) if rows else _t(lang, "<p>No levers (the baseline).</p>", "<p>无政策变化（基准情景）。</p>"))


def _check_year(folder: Path, year: int | None, last: int, years: pd.Series) -> int:
    if year is None:
        return last
    if year not in set(years):
        raise RegionDataError(folder, f"--year {year} is not in the results (years {int(years.min())}–{int(years.max())})")
    return year
