"""What each run.py command does. Printing and files live here, never in geo/ or sim/."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.startup import libraries
from geo.errors import RegionDataError


def load_region(*args, **kwargs):
    """:func:`geo.region.load_region`, imported when a command first needs it: geopandas, networkx and pyproj take
    about 0.6 s to import, and `serve` starts its server before it checks the region."""
    from geo.region import load_region as load

    return load(*args, **kwargs)

console = Console(width=None if Console().is_terminal else 140)


# commands whose --out is a folder they own: checked before any work (workflow.outdir.check_out)
FOLDER_COMMANDS = ("run", "compare", "batch", "sensitivity", "calibrate", "history-match", "ensemble", "validate")
# commands whose --out is one file, with the suffixes they can write
FILE_COMMANDS = {"map": (".png", ".svg", ".pdf"), "polygons": (".gpkg",)}


PROJECT = Path(__file__).resolve().parent.parent


def found_elsewhere(name: str) -> str:
    """A hint for a relative path that is missing from the working folder but is in the project's folder: run.py run
    from elsewhere takes its default ``--region configs/pingyang`` from the working folder.

    >>> found_elsewhere("/an/absolute/path")   # only relative paths are looked for in the project
    ''
    """
    path = Path(name)
    if path.is_absolute() or path.exists() or not (PROJECT / path).exists():
        return ""
    return f" (a relative path is taken from the working folder, {Path.cwd()}; the project's folder holds {PROJECT / path})"


def run_safely(func, args: argparse.Namespace) -> int:
    """Run a command; bad input prints one clear line and exits 2 instead of a traceback.

    Ctrl-C ends with one line (exit 130; outputs are written atomically, so nothing is half-written), and so do
    SIGTERM and SIGHUP (exit 143 and 129, :func:`cli.ending.stop_on_terminate`), a system
    error (disk full, permission) with one line naming the path (exit 2), and an unexpected error with one line
    and the traceback saved to a file for a bug report (exit 1).
    """
    import os
    import sys
    import tempfile
    import traceback

    from cli.ending import Terminated, stop_on_terminate

    stop_on_terminate()
    try:
        command = getattr(args, "command", None)
        if command in FOLDER_COMMANDS and getattr(args, "out", None) is not None:
            with libraries():
                from workflow.outdir import check_out

            check_out(args.out, command)
        if command in FILE_COMMANDS and getattr(args, "out", None) is not None:
            with libraries():
                from workflow.outdir import check_out_file

            check_out_file(args.out, FILE_COMMANDS[command])
        return func(args) or 0
    except RegionDataError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc) + found_elsewhere(exc.file))}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt as exc:
        how = f"terminated ({exc})" if isinstance(exc, Terminated) else "interrupted"
        console.print(f"[bold red]{how}[/]: stopped; results are written only when complete, so nothing was half-written",
                      highlight=False, soft_wrap=True)
        return 128 + exc.signum if isinstance(exc, Terminated) else 130
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        console.print(f"[bold red]error:[/] {escape(where + str(exc.strerror or exc))}", highlight=False, soft_wrap=True)
        return 2
    except Exception as exc:  # a bug: one line for the user, the traceback kept for the report
        fd, path = tempfile.mkstemp(prefix="migrasim-error-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(f"{' '.join(sys.argv)}\n\n{traceback.format_exc()}")
        text = str(exc).splitlines()[0][:200] if str(exc) else ""
        console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {escape(text)} (traceback in {path}; please report it)",
                      highlight=False, soft_wrap=True)
        return 1


def new_region(args: argparse.Namespace) -> int:
    """Write a new region folder from township outlines (placeholders marked), then check it loads."""
    from workflow.newregion import scaffold_region

    folder = scaffold_region(args.folder, args.outline, args.year, args.name, args.name_column)
    region = load_region(folder)
    console.print(f"wrote {folder}: {len(region.townships)} townships, census year {args.year}; every number is a placeholder "
                  f"marked in its source (see {folder}/README.md). Next: python run.py check-config {folder}", highlight=False)
    return 0


def check_config(args: argparse.Namespace) -> int:
    region = load_region(args.region)
    cfg = region.config
    console.print(f"[bold]{cfg.name}[/] ({cfg.name_local or ''}) from {region.path}: valid", highlight=False)
    area = region.area_km2()
    years, last = region.census_years, region.census_years[-1]
    t = Table(title="Townships")
    for col in ("code", "name", *(f"pop {y}" for y in years), f"urban {last}", f"jobs {region.economy_year}", "area km² (polygon)"):
        t.add_column(col, justify="right" if col not in ("code", "name") else "left")
    for tw in region.townships:
        t.add_row(tw.code, f"{tw.name_zh} {tw.name_en}", *(f"{tw.population(y):,}" for y in years),
                  f"{tw.urban_population(last) / max(tw.population(last), 1):.1%}", f"{region.economy[tw.code].jobs:,}",
                  f"{area[tw.code]:.1f}")
    totals = {y: region.total_population(y) for y in years}
    urban = sum(tw.urban_population(last) for tw in region.townships)
    t.add_row("", "[bold]county[/]", *(f"{totals[y]:,}" for y in years), f"{urban / max(totals[last], 1):.2%}",
              f"{sum(e.jobs for e in region.economy.values()):,}", f"{area.sum():.1f}")
    console.print(t)
    for name, g in cfg.groups.items():
        shares = " → ".join(f"{sum(region.township(c).population(y) for c in g.members) / max(totals[y], 1):.2%} ({y})" for y in years)
        console.print(f"group {name} ({g.label}): {len(g.members)} townships, share {shares}", highlight=False)
    modes = sorted({e.mode for e in region.edges})
    n = Table(title="Network: open edges per mode")
    n.add_column("year")
    for m in modes:
        n.add_column(m, justify="right")
    n.add_column("km", justify="right")
    for y in args.years:
        open_ = [e for e in region.edges if e.is_open(y)]
        c = Counter(e.mode for e in open_)
        n.add_row(str(y), *[str(c.get(m, 0)) for m in modes], f"{sum(e.length_km for e in open_):,.0f}")
    console.print(n)
    console.print(f"{len(region.nodes)} nodes, {len(region.edges)} edges with years, {len(region.projects)} planned project links "
                  f"(projects without years, for scenarios); {len(cfg.external_zones)} external zones; targets: {', '.join(cfg.targets) or 'none'}", highlight=False)
    from workflow.memory import available_mb, memory_needed_mb

    need, free = memory_needed_mb(totals[last]), available_mb()
    fits = "" if free is None else (f"; this machine has {free:,.0f} MB available" + ("" if need <= free else
                                    ": too little for a full-scale run, use --scale"))
    console.print(f"memory: a full-scale run from {last} needs about {need:,.0f} MB (estimate){fits}", highlight=False)
    from workflow.io import defaults_used, load_params

    folder = Path(args.region)
    params = load_params(folder)
    short = start_housing_note(region, params, last, need <= free if free is not None else True)
    if short:
        console.print(short, highlight=False, soft_wrap=True)
    for note in price_notes(region.economy, cfg.files.economy):
        console.print(note, highlight=False, soft_wrap=True)

    defaults = defaults_used(folder)
    where = "params.yaml" if (folder / "params.yaml").exists() else "no params.yaml"
    if defaults:
        d = Table(title=f"Parameters taken from the model's defaults ({where}; docs/region-format.md gives their basis)")
        d.add_column("parameter")
        d.add_column("default", justify="right")
        for k, v in defaults.items():
            d.add_row(k, str(v))
        console.print(d)
    else:
        console.print("params.yaml gives every parameter (none taken from the model's defaults)")
    if (folder / "server.yaml").exists():
        from viz.controls import load_server_config

        server = load_server_config(folder, region)
        console.print(f"server.yaml: valid ({len(server.toggles)} toggles, {len(server.jobs.platforms)} job platforms)", highlight=False)
    from workflow.scenarios import check_scenarios

    good, bad = check_scenarios(folder, region, params)
    console.print(f"scenarios: {len(good)} valid" + (f" ({', '.join(good)})" if good else ""), highlight=False, soft_wrap=True)
    for exc in bad:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    if bad:
        console.print(f"{len(bad)} scenario file(s) cannot be run (above, each with its file and field)", highlight=False)
        return 2
    return 0


PRICE_FACTOR = 5.0  # a price this many times the region's median, or below it by as much, is worth a second look


def price_notes(economy: dict, table: str = "economy.csv") -> list[str]:
    """A line for each township of ``economy`` (a region's rows by code) whose housing price is PRICE_FACTOR times the
    region's median or more, or that fraction of it or less: a digit typed once too often (170,000 for 17,000
    yuan/m²) passes every check of range, and prices enter the move choice. A note, not an error: a resort island
    may be that dear.

    >>> from types import SimpleNamespace as Row
    >>> price_notes({"A": Row(price_yuan_m2=8000), "B": Row(price_yuan_m2=9000), "C": Row(price_yuan_m2=90000)})
    ['note: economy.csv gives C a price of 90,000 yuan/m², 10.0 times the median of the region (9,000); check for a digit too many or too few']
    """
    import statistics

    prices = {code: e.price_yuan_m2 for code, e in economy.items()}
    median = statistics.median(prices.values())
    notes = []
    for code, price in prices.items():
        ratio = price / median
        if ratio >= PRICE_FACTOR or ratio <= 1 / PRICE_FACTOR:
            times = f"{ratio:.1f} times" if ratio >= 1 else f"1/{1 / ratio:.1f} of"
            notes.append(f"note: {table} gives {code} a price of {price:,.0f} yuan/m², {times} the "
                         f"median of the region ({median:,.0f}); check for a digit too many or too few")
    return notes


def draw_map(args: argparse.Namespace) -> int:
    from viz.maps import draw_region_map

    region = load_region(args.region)
    out = draw_region_map(region, args.year, args.out, since=args.since)
    console.print(f"map of {args.year} written to {out}", highlight=False)
    return 0


def make_polygons(args: argparse.Namespace) -> int:
    from geo.polygons import approximate_township_polygons, write_polygons

    from geo.region import seat_points

    region = load_region(args.region, polygons=False)
    seats = seat_points(region.townships, region.config.crs.input, region.config.crs.metric)
    gdf = approximate_township_polygons(region.outline, seats)
    out = write_polygons(gdf, args.out or region.path / region.config.files.polygons, crs=region.config.crs.input)
    areas = ", ".join(f"{region.township(c).name_en} {a / 1e6:.0f}" for c, a in zip(gdf["code"], gdf.to_crs(region.config.crs.metric).area))
    console.print(f"approximate polygons written to {out} (km²: {areas})", highlight=False)
    return 0


def times(args: argparse.Namespace) -> int:
    from geo.accessibility import accessibility_table, time_circles
    from geo.network import Transport

    region = load_region(args.region)
    tr = Transport.from_region(region)
    minutes = tr.township_minutes(args.year)
    names = [t.name_en for t in region.townships]
    m = Table(title=f"Travel minutes between township seats, {args.year} (fastest mode, with boarding times)")
    m.add_column("from \\ to")
    for nm in names:
        m.add_column(nm[:4], justify="right")
    for nm, row in zip(names, minutes):
        m.add_row(nm, *[("—" if not np.isfinite(v) else f"{v:.0f}") for v in row])
    console.print(m)
    jobs = np.array([region.economy[c].jobs for c in region.codes])
    r = region.config.routing
    acc = accessibility_table(minutes, jobs, names, r.accessibility_thresholds_min, r.gravity_decay_per_min.value)
    console.print(acc.round(0).astype(int).to_string())
    tc = time_circles(region, tr, args.year)
    for cid, g in tc.groupby("circle", sort=False):
        failing = ", ".join(f"{region.township(c).name_en} {mm:.0f}" for c, mm in zip(g.code, g.minutes) if not np.isfinite(mm) or mm > g["limit"].iloc[0])
        console.print(f"{g['label'].iloc[0]}: {g.met.sum()}/{len(g)} met" + (f" (over: {failing})" if failing else ""), highlight=False)
    return 0


def start_housing_note(region, params, year: int, fits: bool) -> str:
    """What ``run`` would say about a housing table short of households (:func:`housing_short_note`), found by
    building the start population of ``year`` at full scale (about 0.6 s for 860,000 residents); a line saying why
    not where the census has no age bands for ``year`` or the run would not fit in memory."""
    from sim.model import MigrationModel

    if not fits:
        return "housing: not checked (a full-scale start population does not fit in this machine's memory)"
    try:
        model = MigrationModel(region, params=params, start=year, end=year, scale=1.0, seed=0)
    except ValueError as exc:  # no census age structure for the year: run.py run says the same
        return f"housing: not checked ({exc})"
    note = housing_short_note(region, {"start_housing_added_by_township": model.start_housing_added_by_township})
    return note or f"housing: every township part has a dwelling for each of its {year} households"


def housing_short_note(region, meta: dict, share: float = 0.01) -> str:
    """A line for a run whose housing table had fewer dwellings than the households living there: the model adds the
    missing dwellings at the start (every household has one), which changes the data a planner gave. Said when the
    added dwellings are at least ``share`` of a township's stock after the start (below that it is the rounding of a
    scaled stock); empty otherwise.

    >>> class R: economy = {"A": type("E", (), {"housing_urban": 900, "housing_rural": 100})()}
    >>> housing_short_note(R(), {"start_housing_added_by_township": {"A": 250.0}})[:63]
    'note: economy.csv has fewer dwellings than households in A +250'
    """
    added = meta.get("start_housing_added_by_township") or {}
    big = {c: v for c, v in added.items()
           if c in region.economy and v >= share * (region.economy[c].housing_urban + region.economy[c].housing_rural + v)}
    if not big:
        return ""

    def name(code: str) -> str:
        try:
            t = region.township(code)
            return f"{t.name_zh} {t.name_en} ({code})"
        except (AttributeError, KeyError):
            return code

    places = ", ".join(f"{name(c)} +{v:,.0f}" for c, v in sorted(big.items(), key=lambda kv: -kv[1])[:5])
    more = f" and {len(big) - 5} more" if len(big) > 5 else ""
    table = getattr(getattr(getattr(region, "config", None), "files", None), "economy", "economy.csv")
    return (f"note: {table} has fewer dwellings than households in {places}{more}; the model added "
            f"{sum(big.values()):,.0f} dwellings at the start so that every household has one (run.json "
            "start_housing_added_by_township); check the housing columns")


def run_model(args: argparse.Namespace) -> int:
    with libraries():
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from workflow.io import write_run
        from workflow.runner import check_options, prepare, simulate

    region, params, _ = prepare(args.region, args.scenario, args.start, args.end)
    check_options(region, args.start, args.end, args.scale)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} years"),
                  TimeElapsedColumn(), console=console, transient=not console.is_terminal) as bar:
        task = bar.add_task(f"{region.config.name} {args.scenario}", total=args.end - args.start)
        result = simulate(args.region, args.scenario, args.start, args.end, args.scale, args.seed, region=region, params=params,
                          on_year=lambda m: bar.update(task, advance=1, description=f"{region.config.name} {args.scenario} {m.year}"))
    out = write_run(args.out, result.county, result.townships, result.flows, result.meta, result.commuting)
    console.print(township_table(region, result.townships, args.start, args.end))
    console.print(target_table(region, result.county))
    short = housing_short_note(region, result.meta)
    if short:
        console.print(short, highlight=False, soft_wrap=True)
    console.print(f"{args.end - args.start} years in {result.meta['runtime_seconds']:.1f} s; results in {out}/ "
                  "(county.csv, townships.csv, flows.parquet, commuting.parquet, run.json)", highlight=False)
    return 0


def township_table(region, townships, start: int, end: int) -> Table:
    """Where people live: each township's residents in the start year, the plan's target years within the run and
    the end year, with its share of the region at the end and the change since the start (a run's townships.csv).

    >>> console.print(township_table(region, result.townships, 2020, 2035))   # doctest: +SKIP
    """
    target_years = {y for t in region.config.targets.values() for y in t.by_year if start < y <= end}
    years = sorted({start, end} | target_years)
    pop = townships.pivot_table(index="township", columns="year", values="population", aggfunc="sum")
    totals = pop.sum()
    t = Table(title=f"Residents by township ({region.config.name}; townships.csv has every year)")
    t.add_column("township")
    for col in [*map(str, years), f"share {end}", f"change {start}-{end}"]:
        t.add_column(col, justify="right")
    for tw in region.townships:
        row = pop.loc[tw.code]
        change = row[end] - row[start]
        t.add_row(f"{tw.name_zh} {tw.name_en}", *(f"{row[y]:,.0f}" for y in years), f"{row[end] / max(totals[end], 1):.1%}",
                  f"{change:+,.0f} ({change / max(row[start], 1):+.1%})")
    change = totals[end] - totals[start]
    t.add_row("[bold]total[/]", *(f"{totals[y]:,.0f}" for y in years), "100.0%",
              f"{change:+,.0f} ({change / max(totals[start], 1):+.1%})")
    return t


def target_table(region, county) -> Table:
    """Each plan indicator for the target years: simulated value, target, met or not."""
    from workflow.compare import target_checks

    t = Table(title=f"Plan indicators: simulated vs target (region.yaml targets of {region.config.name})"
              if region.config.targets else f"No plan targets in {region.config.name}'s region.yaml")
    for col in ("indicator", "year", "simulated", "target", "met"):
        t.add_column(col, justify="left" if col == "indicator" else "right")
    for r in target_checks(region.config.targets, county):
        fmt = (lambda v: f"{v:,.0f}") if r["unit"] == "persons" else (lambda v: f"{v:.2%}")
        sign = "≥" if r["kind"] == "min" else "≤"
        t.add_row(r["label"], str(r["year"]), fmt(r["value"]), f"{sign} {fmt(r['goal'])}", "[green]yes[/]" if r["met"] else "[red]no[/]")
    return t


def compare(args: argparse.Namespace) -> int:
    import json

    with libraries():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from viz.charts import difference_map, indicator_chart
        from workflow.compare import MIN_PAIRS_FOR_NOISE, agreement_odds, run_all, summarise, township_difference
        from workflow.io import atomic_folder, folder_fingerprint, provenance

    if len(set(args.scenarios)) != len(args.scenarios):
        raise RegionDataError("--scenarios", f"a scenario is named twice: {' '.join(args.scenarios)}")
    if args.seeds < 1:
        raise RegionDataError("--seeds", f"expected at least 1 seed, got {args.seeds}")
    region = load_region(args.region)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    members = _members(args.history, args.members) if args.history else None
    total = len(args.scenarios) * len(seeds) * (len(members) if members else 1)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=not console.is_terminal) as bar:
        task = bar.add_task("runs", total=total)
        county, towns, meta = run_all(args.region, args.scenarios, seeds, args.start, args.end, args.scale,
                                      workers=args.workers, on_done=lambda s, k: bar.update(task, advance=1, description=f"{s} run {k}"),
                                      members=members)
    targets = region.config.targets
    years = sorted({y for t in targets.values() for y in t.by_year if args.start < y <= args.end} | {args.end})
    summary = summarise(county, args.scenarios, years, targets)
    ref = args.scenarios[0]
    diff = township_difference(towns, args.scenarios, args.end)
    pairs = len(seeds) * (len(members) if members else 1)  # paired differences behind each interval
    with atomic_folder(args.out, "compare") as tmp:
        county.to_csv(tmp / "county_runs.csv", index=False)
        towns.to_csv(tmp / "townships_runs.csv", index=False)
        summary.to_csv(tmp / "summary.csv", index=False)
        diff.to_csv(tmp / f"township_difference_{args.end}.csv", index=False)
        indicator_chart(county, args.scenarios, targets, tmp / "indicators.png")
        for s in args.scenarios[1:]:
            difference_map(region, diff[diff.scenario == s], s, ref, args.end, tmp / f"difference_{s}_{args.end}.png",
                           pairs=pairs)
        (tmp / "compare.json").write_text(json.dumps({
            "region": str(args.region), "region_fingerprint": folder_fingerprint(args.region),
            "scenarios": args.scenarios, "reference": ref, "seeds": seeds, "scale": args.scale,
            "start": args.start, "end": args.end, "common_random_numbers": True, "scenario_runs": meta,
            "parameter_sets": {"history": str(args.history), "members": members} if members else None, **provenance()},
            indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    console.print(compare_table(summary, targets, args.scenarios))
    if len(args.scenarios) > 1:
        console.print(township_difference_table(region, diff, args.scenarios, args.end))
    if pairs == 1:
        console.print("one run per scenario: no intervals, and no township is marked beyond seed noise (a single "
                      "difference says nothing about it); use --seeds 10 or more", highlight=False, soft_wrap=True)
    elif pairs < MIN_PAIRS_FOR_NOISE:
        console.print(f"{pairs} runs per scenario: the difference maps mark no township beyond seed noise (with no effect "
                      f"at all, {pairs} paired differences agree in sign 1 time in {agreement_odds(pairs)}, "
                      f"so an interval that excludes 0 says little); use --seeds 10 or more", highlight=False, soft_wrap=True)
    sets = f" x {len(members)} parameter sets from {args.history}" if members else ""
    console.print(f"{total} runs ({len(args.scenarios)} scenarios x {len(seeds)} seeds{sets}, scale {args.scale}); results in {args.out}/ "
                  "(summary.csv, county_runs.csv, townships_runs.csv, indicators.png, difference maps, compare.json)", highlight=False)
    return 0


def _members(history: Path, count: int) -> list[dict[str, float]]:
    """Up to ``count`` parameter sets spread over the non-implausible sets of a history-match folder."""
    from workflow.io import read_result

    path = Path(history) / "plausible.csv"
    if not path.exists():
        raise RegionDataError(path, "no plausible.csv (expected the output folder of run.py history-match)")
    plausible = read_result(path, (), allow_empty=True)
    if plausible.empty:
        raise RegionDataError(path, "no non-implausible parameter set (the history match ruled out every one)")
    names = [c for c in plausible.columns if "." in c and not c.startswith(("I_", "error_"))]
    plausible = read_result(path, tuple(names))  # every parameter value a number
    take = np.unique(np.linspace(0, len(plausible) - 1, min(count, len(plausible))).round().astype(int))
    return [{k: float(v) for k, v in row.items()} for row in plausible.iloc[take][names].to_dict("records")]


def compare_table(summary, targets, scenarios) -> Table:
    """Plan indicators per scenario: mean [90% interval], difference from the first scenario (starred where it is
    beyond seed noise, as in the report and the maps), target met."""
    from workflow.compare import MIN_PAIRS_FOR_NOISE, difference_text

    t = Table(title=f"Scenarios compared (mean over seeds [5%–95%]; Δ = paired difference from {scenarios[0]})",
              caption=f"* beyond seed noise: the interval of the paired differences excludes 0, from {MIN_PAIRS_FOR_NOISE} "
                      "seeds or more")
    for col in ("indicator", "year", "target", *scenarios):
        t.add_column(col, justify="left" if col == "indicator" else "right")
    for key, target in targets.items():
        rows = summary[summary.indicator == key]
        if rows.empty:
            continue
        persons = target.unit == "persons"
        fmt = (lambda v: f"{v / 1e4:,.1f}万") if persons else (lambda v: f"{v:.1%}")
        for year in sorted(rows.year.unique()):
            cells = []
            for s in scenarios:
                r = rows[(rows.scenario == s) & (rows.year == year)].iloc[0]
                text = fmt(r['mean']) + (f" [{fmt(r['p05'])}–{fmt(r['p95'])}]" if r['p05'] == r['p05'] else "")
                if s != scenarios[0]:
                    dfmt = (lambda v: f"{v / 1e4:+,.2f}万") if persons else (lambda v: f"{v * 100:+.2f} pt")
                    text += "\nΔ " + difference_text(r['diff_mean'], r['diff_p05'], r['diff_p95'], int(r['seeds']), dfmt)
                if "met" in r and isinstance(r["met"], (bool, np.bool_)):
                    text += "  [green]met[/]" if r["met"] else "  [red]not met[/]"
                cells.append(text)
            goal = target.by_year.get(year)
            sign = "≥" if target.kind == "min" else "≤"
            t.add_row(target.label, str(year), "" if goal is None else f"{sign} {fmt(goal)}", *cells)
    return t


def township_difference_table(region, diff, scenarios, year: int) -> Table:
    """Where each scenario moves people: every township's residents in ``year`` under the first scenario (mean over
    seeds) and each other scenario's paired difference from it [5%–95%], starred beyond seed noise (a compare's
    township_difference table).

    >>> console.print(township_difference_table(region, diff, ["baseline", "wenfu_hsr"], 2035))   # doctest: +SKIP
    """
    from workflow.compare import difference_text

    t = Table(title=f"Residents by township in {year}: {scenarios[0]} and the paired difference (Δ) of each scenario "
                    "[5%–95%]", caption="* beyond seed noise, as in the indicators' table and the difference maps")
    t.add_column("township")
    t.add_column(scenarios[0], justify="right")
    for s in scenarios[1:]:
        t.add_column(f"Δ {s}", justify="right")
    by = diff.set_index(["scenario", "township"])
    for tw in region.townships:
        cells = [f"{by.loc[(scenarios[0], tw.code), 'population']:,.0f}"]
        for s in scenarios[1:]:
            r = by.loc[(s, tw.code)]
            cells.append(difference_text(r["diff_mean"], r["diff_p05"], r["diff_p95"], int(r["pairs"])))
        t.add_row(f"{tw.name_zh} {tw.name_en}", *cells)
    return t


def _batch_progress(total: int, label: str):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[done]} done, {task.fields[failed]} failed, "
                   "{task.fields[left]} left"), TimeElapsedColumn(), console=console, transient=not console.is_terminal)
    task = bar.add_task(label, total=total, done=0, failed=0, left=total)
    counts = {"done": 0, "failed": 0}

    def update(run, status: str) -> None:
        counts[status] += 1
        bar.update(task, advance=1, done=counts["done"], failed=counts["failed"], left=total - counts["done"] - counts["failed"])

    return bar, update


def _quiet_dask() -> None:
    """Dask logs every lost connection with a traceback; the batch reports what matters in one line instead."""
    import logging

    import distributed  # noqa: F401  (creates its loggers)

    for name in [n for n in logging.root.manager.loggerDict if n == "distributed" or n.startswith("distributed.")]:
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _client(args):
    _quiet_dask()
    if args.scheduler:
        from batch.engine import connect

        return connect(args.scheduler)
    return None


def check_local_memory(runs: list, args: argparse.Namespace) -> None:
    """Before a batch on this machine's own cluster: refuse runs that cannot fit in its memory as many at once as
    there are workers (a remote cluster's workers check their own, run by run)."""
    from workflow.memory import runs_at_once
    from workflow.runner import cached_region, check_options

    if runs and not args.scheduler:
        r = runs[0]  # a sweep's or design's runs share their region, years and scale
        check_options(cached_region(r.region), r.start, r.end, r.scale, runs_at_once=runs_at_once(args.workers, len(runs)))


LARGE_BATCH = 5_000  # runs; a larger sweep or sensitivity design needs --yes
MAX_BATCH = 1_000_000  # runs; the list of a batch's runs takes about 1 KB a run before any runs (1 GB here)


def confirm_size(runs: int, source: Path, yes: bool) -> None:
    """Refuse a batch above LARGE_BATCH runs unless ``--yes`` was given (a mistyped grid can hold millions), and
    one above MAX_BATCH runs even then (listing them would fill the memory before the first run)."""
    if runs > MAX_BATCH:
        raise RegionDataError(source, f"{runs:,} runs is more than one batch can hold ({MAX_BATCH:,}); check the sweep, "
                                      "or split it into several batches")
    if runs > LARGE_BATCH and not yes:
        raise RegionDataError(source, f"{runs:,} runs is more than {LARGE_BATCH:,}; check the sweep, or add --yes to run them all")


def batch(args: argparse.Namespace) -> int:
    from batch.engine import run_batch
    from batch.store import ResultStore
    from batch.sweep import expand, read_sweep
    from workflow.io import provenance

    spec = read_sweep(args.sweep)
    confirm_size(spec.size(), args.sweep, args.yes)
    runs = expand(spec, source=args.sweep)
    check_local_memory(runs, args)
    store = ResultStore(args.out)
    store.write_json("sweep.json", {"sweep_file": str(args.sweep), "sweep": spec.model_dump(), "runs": len(runs), **provenance()})
    left = len(runs) - len(store.finished() & {r.run_id for r in runs})
    console.print(f"{len(runs)} runs in the sweep ({len(spec.scenarios)} scenarios x {len(spec.parameters.settings())} parameter "
                  f"settings x {len(spec.seed_list())} seeds); {len(runs) - left} already finished in {args.out}", highlight=False)
    bar, update = _batch_progress(left, "batch")
    client = _client(args)
    try:
        with bar:
            summary = run_batch(runs, args.out, client=client, workers=args.workers, on_result=update)
    finally:
        if client is not None:
            client.close()
    console.print(f"done {summary['done']}, failed {summary['failed']}, skipped (already finished) {summary['skipped']}; "
                  f"results: {args.out}/county, {args.out}/townships (Parquet, partitioned by scenario), {args.out}/registry.parquet",
                  highlight=False)
    for run_id, err in summary["failures"].items():
        console.print(f"[red]failed[/] {run_id}: {escape(err)}", highlight=False)
    for line in summary.get("workers_left_out", []):
        console.print(f"[yellow]worker left out[/] (it could not run the model): {escape(line)}", highlight=False)
    return 1 if summary["failed"] else 0


def sensitivity(args: argparse.Namespace) -> int:
    import json

    from batch import sensitivity as sa
    from batch.engine import run_batch
    from workflow.io import provenance

    spec = sa.read_spec(args.spec)
    confirm_size(sa.size(spec), args.spec, args.yes)
    X = sa.sample(spec)
    runs = sa.runs_for(spec, X, Path(spec.region))
    check_local_memory(runs, args)
    out = Path(args.out)
    console.print(f"{spec.method}: {len(runs)} runs over {len(spec.parameters)} parameters", highlight=False)
    bar, update = _batch_progress(len(runs), "sensitivity")
    client = _client(args)
    try:
        with bar:
            summary = run_batch(runs, out / "runs", client=client, workers=args.workers, on_result=update)
    finally:
        if client is not None:
            client.close()
    year = spec.year or spec.end
    Y = sa.outputs_of(out / "runs", runs, spec.outputs, year)
    bad = {o: int(np.isnan(y).sum()) for o, y in Y.items() if np.isnan(y).any()}
    if bad:
        raise RegionDataError(out / "runs" / "registry.parquet", f"{summary['failed']} runs failed; cannot compute indices (see the registry)")
    indices = sa.analyse(spec, X, Y)
    indices.to_csv(out / "indices.csv", index=False)
    import pandas as pd

    pd.DataFrame(X, columns=spec.problem["names"]).to_csv(out / "samples.csv", index=False)
    sa.plot(indices, spec.method, year, out / "sensitivity.png")
    (out / "sensitivity.json").write_text(json.dumps({"spec": spec.model_dump(), **provenance()}, indent=2, default=str), encoding="utf-8")
    t = Table(title=f"Sensitivity ({spec.method}), {year}")
    cols = ["output", "parameter", *(["mu_star", "mu_star_conf", "sigma"] if spec.method == "morris" else ["S1", "ST", "ST_conf"])]
    for c in cols:
        t.add_column(c, justify="left" if c in ("output", "parameter") else "right")
    for r in indices.itertuples():
        t.add_row(*(str(getattr(r, c)) if c in ("output", "parameter") else f"{getattr(r, c):.4g}" for c in cols))
    console.print(t)
    console.print(f"indices in {out}/indices.csv, plot {out}/sensitivity.png, runs in {out}/runs/", highlight=False)
    return 0


def _md_table(df) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for r in df.itertuples(index=False):
        lines.append("| " + " | ".join((f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}") if isinstance(v, float) else str(v)
                                       for v in r) + " |")
    return "\n".join(lines)


def _write_report(folder: Path, markdown: str) -> None:
    """The report as Markdown and as one self-contained HTML page (tables and pictures included)."""
    from viz.report import markdown_report

    (folder / "report.md").write_text(markdown, encoding="utf-8")
    (folder / "report.html").write_text(markdown_report(markdown, folder), encoding="utf-8")


def hindcast_targets(region, args: argparse.Namespace):
    """The census targets of a hindcast ``args.from_year`` → ``args.to_year`` (calibrate, history-match), or a
    clear error naming region.yaml when a year has no census or the county target is missing."""
    from workflow import calibration as cal

    if args.to_year <= args.from_year:
        raise RegionDataError("--to", f"{args.to_year} is not after --from {args.from_year}: a hindcast runs from one "
                                      "census forward to a later one")
    for y in (args.from_year, args.to_year):
        if y not in region.config.census:
            raise RegionDataError(region.path / "region.yaml", f"no census for {y} (census years: {', '.join(map(str, region.config.census))})",
                                  field="census")
    try:
        targets = cal.census_targets(region, args.to_year, args.county_target)
    except KeyError as exc:
        raise RegionDataError(region.path / "region.yaml", str(exc.args[0]), field=f"census.{args.to_year}") from exc
    for name in getattr(args, "holdout", None) or []:
        if name not in targets.names:
            raise RegionDataError("--holdout", f"unknown target {name!r} (targets of this hindcast: {', '.join(targets.names)})")
    return targets


def start_checkpoint(args: argparse.Namespace, code: dict, ignore: tuple[str, ...] = ("out", "workers", "func", "write",
                                                                                       "allow_dirty", "note")):
    """The checkpoint of a long fit writing to ``args.out``: finished evaluations of an interrupted run of the same
    command (same options, code and region files) are reused; says how many."""
    import json

    from workflow.calibration import Checkpoint
    from workflow.io import folder_fingerprint
    from workflow.outdir import EvaluationCache, checkpoint_folder

    options = {k: str(v) for k, v in sorted(vars(args).items()) if k not in ignore}
    context = json.dumps({"options": options, "commit": code.get("git_commit"), "changes": code.get("git_changes"),
                          "region": folder_fingerprint(args.region)}, sort_keys=True)
    folder = checkpoint_folder(args.out)
    done = len(EvaluationCache(folder)) if folder.exists() else 0
    if done:
        console.print(f"resuming: {done} finished evaluations kept in {folder} by an interrupted run are reused", highlight=False)
    return Checkpoint(folder, context)


def end_checkpoint(checkpoint) -> None:
    """Remove a fit's checkpoint once its results are written."""
    import shutil

    shutil.rmtree(checkpoint.folder, ignore_errors=True)


def calibrate(args: argparse.Namespace) -> int:
    import datetime
    import json

    import pandas as pd

    from sim.params import parameter_value
    from viz.charts import township_map
    from workflow import calibration as cal
    from workflow.io import atomic_folder, load_params, provenance

    region = load_region(args.region)
    code = provenance()
    if args.write and not args.allow_dirty:
        refuse_uncommitted(code, region.path / "params.yaml", "calibrate --write", "the fit")
    targets = hindcast_targets(region, args)
    params = load_params(args.region)
    seeds = list(range(1, args.seeds + 1))
    holdout = tuple(args.holdout)
    free = cal.parse_free(args.free) if args.free else dict(cal.DEFAULT_FREE)
    base_values = {n: parameter_value(params, n) for n in free}
    for note in cal.outside_box(params, free):
        console.print(f"note: {note}; the fit starts at the box's edge", highlight=False, soft_wrap=True)
    checkpoint = start_checkpoint(args, code)
    before, _ = cal.evaluate(args.region, region, targets, args.from_year, base_values, seeds, args.scale, params)
    console.print(f"fitting {len(free)} parameters with seeds {seeds} (up to {args.max_evaluations} evaluations each, "
                  f"{args.workers} process(es))...", highlight=False)
    fits = []
    for s, r in cal.fit_seeds(args.region, region, targets, args.from_year, free, seeds, args.scale, params, holdout,
                              args.max_evaluations, args.workers, checkpoint=checkpoint):
        fits.append({"seed": s, **r.values, "loss": r.loss, "evaluations": r.evaluations, "seconds": round(r.seconds, 1)})
    fits = pd.DataFrame(fits)
    final = {n: float(fits[n].median()) for n in free}
    after, towns = cal.evaluate(args.region, region, targets, args.from_year, final, seeds, args.scale, params)
    rows = []
    for key, obs in [("population", targets.population), *targets.shares.items()]:
        col = "population" if key == "population" else key
        sim = float(after[col].mean())
        err = float(after[f"error_{key}"].mean())
        tol = cal.tolerance(key)
        rows.append({"target": key, "observed": obs, "simulated": sim, "error": err, "tolerance": tol,
                     "met": abs(err) <= tol, "held_out": key in holdout, "error_before_fit": float(before[f"error_{key}"].mean())})
    mape = float(after.error_township_mape.mean())
    rows.append({"target": "township_mape", "observed": 0.0, "simulated": mape, "error": mape, "tolerance": 0.05, "met": mape <= 0.05,
                 "held_out": "township_mape" in holdout, "error_before_fit": float(before.error_township_mape.mean())})
    table = pd.DataFrame(rows)
    spread = pd.DataFrame({"parameter": list(free), "before": [base_values[n] for n in free], "fitted": [final[n] for n in free],
                           "sd_across_seeds": [float(fits[n].std(ddof=1)) if len(fits) > 1 else float("nan") for n in free],
                           "low_bound": [free[n][0] for n in free], "high_bound": [free[n][1] for n in free]})
    record = {"date": datetime.date.today().isoformat(), "hindcast": [args.from_year, args.to_year], "seeds": seeds,
              **({"note": args.note} if args.note else {}),
              "county_target": args.county_target,
              "scale": args.scale, "max_evaluations_per_seed": args.max_evaluations, "held_out": list(holdout),
              "parameters": {r.parameter: {"value": r.fitted, "sd_across_seeds": r.sd_across_seeds, "before": r.before}
                             for r in spread.itertuples()},
              "errors": {r.target: {"observed": r.observed, "simulated": r.simulated, "error": r.error, "met": bool(r.met)}
                         for r in table.itertuples()},
              "command": _calibrate_command(args), **code}
    if code["git_dirty"]:
        record["git_diff"] = _git_diff()
    with atomic_folder(args.out, "calibrate") as tmp:
        fits.to_csv(tmp / "fits.csv", index=False)
        table.to_csv(tmp / "targets.csv", index=False)
        spread.to_csv(tmp / "parameters.csv", index=False)
        towns.to_csv(tmp / "townships.csv", index=False)
        (tmp / "calibration.json").write_text(json.dumps(record, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        township_map(region, towns.set_index("township").error_pct, f"simulated − census share, % of census share, {args.to_year}",
                     f"Hindcast error by township, {args.to_year}" + (" (approximate boundaries)" if region.approximate_polygons else ""),
                     "{:+.0f}%", tmp / "hindcast_townships.png")
        md = (f"# Calibration: hindcast {args.from_year} to {args.to_year}\n\n"
              f"Seeds {seeds}, scale {args.scale}; one Nelder-Mead fit per seed, the fitted value is the median across seeds. "
              f"County population target: census entry `{args.county_target}`. "
              f"Held out (not in the loss): {', '.join(holdout) or 'none'}.\n\n" + (f"{args.note}\n\n" if args.note else "")
              + f"## Targets\n\n{_md_table(table)}\n\n"
              f"## Parameters\n\n{_md_table(spread)}\n\n## Townships\n\n{_md_table(towns)}\n\n![townships](hindcast_townships.png)\n")
        _write_report(tmp, md)
    end_checkpoint(checkpoint)
    if args.write:
        _store_fit(region.path, spread, record)
    t = Table(title=f"Hindcast {args.from_year}→{args.to_year}: census vs simulated (mean of {len(seeds)} seeds)")
    for c in ("target", "observed", "simulated", "error", "before fit", "tolerance", "met"):
        t.add_column(c, justify="left" if c == "target" else "right")
    for r in table.itertuples():
        pct = r.target in ("population", "township_mape")
        f = (lambda v: f"{v:.2%}") if r.target != "population" else (lambda v: f"{v:,.0f}")
        e = (lambda v: f"{v:+.2%}") if pct else (lambda v: f"{v * 100:+.2f} pt")
        t.add_row(r.target + (" (held out)" if r.held_out else ""), f(r.observed) if r.target != "township_mape" else "",
                  f(r.simulated), e(r.error), e(r.error_before_fit), e(r.tolerance).lstrip("+"),
                  "[green]yes[/]" if r.met else "[red]no[/]")
    console.print(t)
    console.print(spread.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="(one seed)"), highlight=False)
    console.print(f"results in {args.out}/" + ("; parameters written to params.yaml and calibration.yaml" if args.write else
                  " (add --write to store the fit in the region's params.yaml)"), highlight=False)
    return 0


def refuse_uncommitted(code: dict, path: Path, command: str, what: str) -> None:
    """Stop a command that would store results made from code that is not committed (``code``: provenance())."""
    if code["git_dirty"] is False:
        return
    why = ("git cannot tell whether the code is committed" if code["git_dirty"] is None else
           f"the working tree has uncommitted changes ({len(code['git_changes'])}: {'; '.join(code['git_changes'][:3])})")
    raise RegionDataError(path, f"{command} refused: {why}, so {what} could not be re-made from a commit. Commit first, "
                          "or add --allow-dirty to store it with the changes recorded")


def _calibrate_command(args: argparse.Namespace) -> str:
    """The command that re-runs a fit with the same settings (from the commit recorded beside it)."""
    parts = ["python run.py calibrate", f"--region {args.region}", f"--from {args.from_year}", f"--to {args.to_year}",
             f"--seeds {args.seeds}", f"--scale {args.scale}", f"--max-evaluations {args.max_evaluations}",
             f"--county-target {args.county_target}", f"--workers {args.workers}"]
    if args.free:
        parts.append("--free " + " ".join(args.free))
    parts.append("--holdout" + "".join(f" {h}" for h in args.holdout))
    return " ".join(parts) + f" --out {args.out}"


def _git_diff(limit: int = 200_000) -> str:
    """The uncommitted changes of the code's working tree (``git diff HEAD``), cut at ``limit`` characters."""
    import subprocess

    from workflow.io import ROOT

    try:
        out = subprocess.run(["git", "-C", str(ROOT), "diff", "HEAD"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return "(git diff failed)"
    return out if len(out) <= limit else out[:limit] + "\n... (cut)"


def _store_fit(region_dir: Path, spread, record: dict) -> None:
    """Write fitted values into params.yaml (source says calibrated) and the fit record into calibration.yaml; a fitted
    ``.factor`` is written as the scaled numbers, with the factor in their source."""
    import yaml

    from geo.region import load_yaml
    from sim.params import split_factor
    from workflow.io import load_params

    path = region_dir / "params.yaml"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    params = load_params(region_dir)  # the values the fit started from (and params.yaml checked)
    data = load_yaml(path, text) or {}
    for r in spread.itertuples():
        target, factor = split_factor(r.parameter)
        section, name = target.split(".")
        entry = data.setdefault(section, {}).setdefault(name, {"value": None, "meaning": "", "source": ""})
        fit = f"calibrated {record['date']}: hindcast {record['hindcast'][0]}-{record['hindcast'][1]} against the census"
        sd = f"{r.sd_across_seeds:.3g}" if r.sd_across_seeds == r.sd_across_seeds else "unknown (one seed)"
        if factor:  # the fitted factor times the values the fit started from
            old = getattr(getattr(params, section), name)
            entry["value"] = [round(float(v) * float(r.fitted), 6) for v in old]
            entry["source"] = (f"{fit}: {r.fitted:.4g} times the earlier {list(old)}, sd of the factor across seeds "
                               f"{sd} (see calibration.yaml)")
        else:
            entry["value"] = round(float(r.fitted), 6)
            entry["source"] = f"{fit}, sd across seeds {sd}; was {r.before:g} (see calibration.yaml)"
    for name, content in ((path, header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=200)),
                          (region_dir / "calibration.yaml", "# Written by run.py calibrate --write\n"
                           + yaml.safe_dump(record, allow_unicode=True, sort_keys=False, width=200))):
        tmp = name.with_name(f".{name.name}.tmp")
        tmp.write_text(content, encoding="utf-8")
        tmp.replace(name)


def validate(args: argparse.Namespace) -> int:
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from workflow.io import atomic_folder, load_params, provenance
    from workflow.runner import simulate

    region = load_region(args.region)
    proj = region.config.projection
    if proj is None:
        raise RegionDataError(region.path / "region.yaml", "no projection to validate against", field="projection")
    if not any(args.start < y <= args.end for y in proj.resident):
        raise RegionDataError("--end", f"the projection has no year in {args.start + 1}-{args.end} (its years: "
                                       f"{', '.join(map(str, sorted(proj.resident)))}); expected a run that reaches one")
    params = load_params(args.region)
    members = _members(args.history, args.members) if args.history else [None]
    from workflow.compare import MEMBER_STRIDE

    # with parameter sets from a history match, a run's key is member x 1000 + seed (intervals over both)
    runs = [simulate(args.region, "baseline", args.start, args.end, args.scale, s, overrides=values, region=region,
                     params=params).county.assign(seed=s if values is None else k * MEMBER_STRIDE + s)
            for k, values in enumerate(members) for s in range(1, args.seeds + 1)]
    county = pd.concat(runs, ignore_index=True)
    uncertainty = (f"{len(members)} parameter sets from {args.history} x {args.seeds} seeds: intervals carry parameter "
                   "uncertainty and seed noise" if args.history else f"{args.seeds} seeds of one parameter set: intervals "
                   "are seed noise only")
    g = county.groupby("year")
    band = _against_band(g, "population", proj.resident)
    # the registered (hukou) population against the plan's own hukou projection, where the region has both
    registered = (_against_band(g, "registered_population", proj.hukou)
                  if county.registered_population.notna().all() else pd.DataFrame())
    ages = g[["aged0_14_share", "aged60_share", "dependency_ratio"]].mean().reset_index()
    from workflow.outofsample import out_of_sample, scores

    oos = out_of_sample(county, region.observed, region, args.start) if region.observed else pd.DataFrame()
    score = scores(oos) if len(oos) else pd.DataFrame()
    with atomic_folder(args.out, "validate") as tmp:
        county.to_csv(tmp / "county_runs.csv", index=False)
        band.to_csv(tmp / "projection_band.csv", index=False)
        if len(registered):
            registered.to_csv(tmp / "projection_band_registered.csv", index=False)
        if len(oos):
            oos.to_csv(tmp / "out_of_sample.csv", index=False)
            score.to_csv(tmp / "out_of_sample_scores.csv", index_label="indicator")
        ages.to_csv(tmp / "age_structure.csv", index=False)
        fig, ax = plt.subplots(1, 2, figsize=(12, 4.5), dpi=110)
        ax[0].fill_between(band.year, band.low, band.high, color="#cccccc", label="plan projection low-high (PADIS-INT)")
        ax[0].plot(band.year, band.mid, "k--", lw=1, label="plan projection mid")
        ax[0].plot(g.population.mean().index, g.population.mean().values, color="#c0392b", lw=2, label="model baseline (mean)")
        ax[0].fill_between(g.population.mean().index, g.population.quantile(0.05).values, g.population.quantile(0.95).values,
                           color="#c0392b", alpha=0.2)
        ax[0].yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1e3:,.0f}k"))
        ax[0].set_title("Resident population")
        ax[0].legend(fontsize=8)
        ax[0].grid(alpha=0.3)
        for col, label in (("aged60_share", "60+"), ("aged0_14_share", "0-14"), ("dependency_ratio", "dependency ratio")):
            ax[1].plot(ages.year, ages[col], label=label)
        for key, marker in (("aged60_share", "v"), ("dependency_ratio", "v")):
            t = region.config.targets.get(key)
            if t:
                ax[1].scatter(list(t.by_year), list(t.by_year.values()), marker=marker, color="black")
        ax[1].yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax[1].set_title("Age structure (markers: plan maxima)")
        ax[1].legend(fontsize=8)
        ax[1].grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(tmp / "projection.png", bbox_inches="tight")
        plt.close(fig)
        inside = int(band.within_band.sum())
        md = (f"# Validation: baseline {args.start}-{args.end} against the plan's projection\n\n"
              f"{uncertainty}, scale {args.scale}. Resident population inside the plan's low-high band in {inside} of "
              f"{len(band)} projection years.\n\n## Population against the band\n\n{_md_table(band)}\n\n"
              f"## Age structure (mean over seeds)\n\n{_md_table(ages)}\n\n![projection](projection.png)\n")
        if len(registered):
            md += ("\n## Registered (hukou) population against the plan's hukou projection\n\n"
                   f"Inside the low-high band in {int(registered.within_band.sum())} of {len(registered)} years.\n\n"
                   f"{_md_table(registered)}\n")
        if len(oos):
            shown = oos[["year", "indicator", "use", "observed", "model", "model_p05", "model_p95", "no_change", "trend",
                         "padis_mid"]]
            md += ("\n## Out of sample: published county statistics after the start year\n\n"
                   f"From {region.config.files.observed}; `held_out` figures were used in no fit, `fit` ones set a "
                   "parameter. Benchmarks: no change since the start census, the trend between the last two censuses, "
                   f"the plan's PADIS-INT mid line.\n\n{_md_table(shown)}\n\n"
                   f"Mean absolute error over the held-out figures (population also in %):\n\n"
                   f"{_md_table(score.reset_index(names='indicator'))}\n")
        _write_report(tmp, md)
        (tmp / "validation.json").write_text(json.dumps({"seeds": args.seeds, "scale": args.scale, "start": args.start, "end": args.end,
                                                         "uncertainty": uncertainty,
                                                         "years_in_band": inside, "years": len(band),
                                                         "registered_years_in_band": int(registered.within_band.sum()) if len(registered) else None,
                                                         "out_of_sample_scores": score.to_dict(orient="index"),
                                                         **provenance()}, indent=2, default=float), encoding="utf-8")
    _print_band("Baseline resident population against the plan's PADIS-INT band", band)
    if len(registered):
        _print_band("Baseline registered (hukou) population against the plan's hukou projection", registered)
    if len(oos):
        t = Table(title=f"Out of sample: published county statistics ({region.config.files.observed})")
        for c in ("year", "indicator", "use", "observed", "model [5%-95%]", "no change", "trend", "plan mid"):
            t.add_column(c, justify="right")
        for r in oos.itertuples():
            f = (lambda v: f"{v:,.0f}") if r.indicator == "population" else (
                (lambda v: f"{v:.1%}") if r.indicator in ("urbanisation", "aged60_share") else (lambda v: f"{v:.2f}‰"))
            na = lambda v: "" if v != v else f(v)  # noqa: E731 (NaN: no benchmark)
            t.add_row(str(r.year), r.indicator, r.use, f(r.observed), f"{f(r.model)} [{f(r.model_p05)}-{f(r.model_p95)}]",
                      na(r.no_change), na(r.trend), na(r.padis_mid))
        console.print(t)
    console.print(f"{uncertainty}; report in {args.out}/report.html (and report.md, projection.png)", highlight=False)
    return 0


def _against_band(by_year, column: str, points: dict):
    """Each projection year's simulated ``column`` (mean and 5-95% over the runs, ``by_year`` a pandas group-by of
    the runs by year) beside the plan's low, mid and high: a DataFrame, a row per projection year that was run."""
    import pandas as pd

    rows = []
    for year, (low, mid, high) in sorted(points.items()):
        if year not in by_year.groups:
            continue
        v = by_year[column].get_group(year)
        rows.append({"year": year, "simulated": v.mean(), "sim_p05": v.quantile(0.05), "sim_p95": v.quantile(0.95),
                     "low": low, "mid": mid, "high": high, "within_band": bool(low <= v.mean() <= high),
                     "vs_mid_pct": (v.mean() / mid - 1) * 100})
    return pd.DataFrame(rows)


def _print_band(title: str, band) -> None:
    """Print a table of :func:`_against_band`: each year's simulated value and its interval beside the band."""
    t = Table(title=title)
    for c in ("year", "simulated [5%-95%]", "low", "mid", "high", "in band"):
        t.add_column(c, justify="right")
    for r in band.itertuples():
        t.add_row(str(r.year), f"{r.simulated:,.0f} [{r.sim_p05:,.0f}-{r.sim_p95:,.0f}]", f"{r.low:,.0f}", f"{r.mid:,.0f}",
                  f"{r.high:,.0f}", "[green]yes[/]" if r.within_band else "[red]no[/]")
    console.print(t)


def server_env(region: Path, tiles: str = "", lang: str = "en") -> dict[str, str]:
    """The environment of the server process: the region, tiles and language for viz/app.py, and Solara's telemetry
    off. Solara otherwise asks api.ipify.org for the machine's address and reports usage to mixpanel.com: the page
    must work offline and send nothing anywhere. Solara's "This website runs on Solara" banner is off too: it is
    English on a Chinese page and covers the page's corner.

    >>> server_env(Path("configs/x"))["SOLARA_TELEMETRY_MIXPANEL_ENABLE"]
    'False'
    """
    import os

    return {**os.environ, "MIGRASIM_REGION": str(region.resolve()), "MIGRASIM_TILES": tiles, "MIGRASIM_LANG": lang,
            "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False", "SOLARA_THEME_SHOW_BANNER": "False"}


def address_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host``:``port``, or None if it can.

    Checked before the server starts, so a port in use or an address not on this machine is one line in a fraction
    of a second, instead of "serving on ..." followed by the server's own error seconds later. The check binds as
    the server does (with SO_REUSEADDR, so a port whose last connections are closing counts as free); another
    program can still take the port in the moment between, and then the server's own error is the message.

    Parameters
    ----------
    host : the address to listen on (a name or an IP address).
    port : the port.

    Returns
    -------
    A sentence naming the address and what is wrong, or None.

    Example
    -------
    >>> import socket
    >>> with socket.socket() as taken:
    ...     taken.bind(("127.0.0.1", 0)); taken.listen()
    ...     address_problem("127.0.0.1", taken.getsockname()[1]).startswith("port ")
    True
    """
    import socket

    # IPv6 only for an address with a colon, so "localhost" is checked as 127.0.0.1 even where the name also stands
    # for ::1 on a machine without IPv6 (the server binds every address of the name; a conflict on another one is
    # left to its own error)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        return f"--host {host}: not an address of this machine's network (the name does not resolve: {exc})"
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            import errno

            if exc.errno == errno.EADDRINUSE:
                return (f"port {port} on {host} is already in use (another server, perhaps an earlier run.py serve); "
                        f"stop it or choose another with --port")
            if exc.errno == errno.EACCES:
                return f"port {port} needs administrator rights (ports below 1024); choose one above 1024 with --port"
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"--host {host}: not an address of this machine (use 127.0.0.1, or 0.0.0.0 for every network)"
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def answers(host: str, port: int) -> bool:
    """True if a server listens on ``host``:``port`` (a wildcard address is asked on this machine's loopback).

    >>> answers("127.0.0.1", 1)   # port 1 (tcpmux) listens nowhere these days
    False
    """
    import socket

    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def serve(args: argparse.Namespace) -> int:
    """Check the region and its server controls, then run the Solara server on viz/app.py until stopped.

    The server runs as a child process in its own process group; SIGTERM or Ctrl-C (SIGINT) to this process stops
    that group (SIGTERM, then SIGKILL after 10 s), also while this process is still starting, so no server is left
    holding the port.
    """
    import os
    import signal
    import shutil
    import subprocess
    import sys
    import time

    from viz.assets import AssetError, ensure_assets, find_npm, missing_packages

    if not hasattr(os, "killpg"):  # Windows: no process groups to stop the server with, no descriptors to pass it
        raise RegionDataError("serve", "needs Linux or macOS (the server runs in a process group of its own, stopped "
                                       "with it); on Windows, run it in WSL")
    if not (Path(args.region) / "region.yaml").is_file():
        raise RegionDataError(args.region, "region folder not found (expected a folder holding region.yaml)")
    problem = address_problem(args.host, args.port)
    if problem:
        console.print(f"[bold red]error:[/] {escape(problem)}", highlight=False, soft_wrap=True)
        return 2
    if shutil.which("npm") is None:
        # without npm a missing browser file is an error, said before the server starts (knowing costs the 0.75 s of
        # importing Solara here; with npm, that import runs beside the server's own start, below)
        try:
            missing = missing_packages()
            if missing:
                find_npm(missing)
        except AssetError as exc:
            console.print(f"[bold red]error:[/] {exc}", highlight=False)
            return 2
    app = Path(__file__).resolve().parent.parent / "viz" / "app.py"
    env = server_env(Path(args.region), args.tiles, getattr(args, "lang", "en"))
    env["MIGRASIM_SERVE_PID"] = str(os.getpid())  # the server ends with this process, even after a SIGKILL (viz/app.py)
    # the page waits until the browser files are in the cache before the server listens (viz/app.py; at once when
    # they are already), while this process fetches those missing
    env["MIGRASIM_ASSETS_PENDING"] = "1"
    # The page also waits, before it reads the region, until this process has checked it (a byte on this pipe), so
    # a bad file is reported here in one line and never as the server's traceback as well: which of the two reached
    # the error first depended on the machine's load.
    checked_r, checked_w = os.pipe()
    env["MIGRASIM_CHECKED_FD"] = str(checked_r)
    # --no-check-version: otherwise Solara asks pypi.org for its latest version at every start, before it listens
    cmd = [sys.executable, "-m", "solara", "run", str(app), "--host", args.host, "--port", str(args.port),
           "--production", "--no-open", "--no-check-version"]
    # the server starts first and loads its libraries (several seconds) while this process fetches the browser files
    # (a first start after installing) and checks the region and its controls; a failure stops the server and is
    # reported in one line
    child: subprocess.Popen | None = None
    stopping = False

    def stop_child(signals=((signal.SIGTERM, 10), (signal.SIGKILL, 5))) -> None:
        if child is None or child.poll() is not None:
            return
        for sig, wait in signals:
            try:
                os.killpg(child.pid, sig)
            except ProcessLookupError:
                return
            try:
                child.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def on_signal(signum, frame) -> None:
        # Only unwind here; the finally below stops the server. This handler usually interrupts child.wait(), which
        # holds the child's wait lock until it is left: a wait inside the handler could never take that lock, and
        # waited out both timeouts (15 s) although the server had ended at once.
        if not stopping:
            raise SystemExit(0)

    # installed before the server starts: a SIGTERM's default action while the region is checked would end this
    # process alone and leave the server (in a session of its own) running, holding the port
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        child = subprocess.Popen(cmd, env=env, cwd=app.parent.parent, start_new_session=True, pass_fds=(checked_r,))
        os.close(checked_r)
        try:
            missing = missing_packages()
            if missing:
                find_npm(missing)
                ensure_assets(log=lambda m: console.print(m, highlight=False))
            from viz.controls import load_server_config
            from workflow.io import check_commute_cap, load_params

            region = load_region(args.region)
            load_server_config(args.region, region)
            check_commute_cap(region, load_params(args.region), args.region / "params.yaml")
            os.write(checked_w, b"1")
        except AssetError as exc:
            # The server has not listened: its page waits for these files, and a SIGTERM, which the server defers
            # until its start is done, would wait out the 10 s before SIGKILL. Nothing was served, nothing is lost.
            stop_child(((signal.SIGKILL, 5),))
            console.print(f"[bold red]error:[/] {exc}", highlight=False)
            return 2
        except RegionDataError:
            # the page waits for the byte that will not come; a SIGTERM would wait until the server's start is done
            stop_child(((signal.SIGKILL, 5),))
            raise
        finally:
            os.close(checked_w)
        # the address is printed once it answers (the server loads for a few seconds): a planner who opens it at once
        # gets the page, not "connection refused"
        while not answers(args.host, args.port):
            if child.poll() is not None:
                console.print(f"[bold red]error:[/] the server stopped before it listened (exit {child.returncode}); "
                              "its own messages are above", highlight=False, soft_wrap=True)
                return child.returncode or 1
            time.sleep(0.1)
        console.print(f"serving {args.region} on http://{args.host}:{args.port}  (Ctrl-C stops)", highlight=False)
        return child.wait()
    finally:
        stopping = True  # a second Ctrl-C while the server is being stopped must not cut the stop short
        stop_child()
        for s, handler in previous.items():
            signal.signal(s, handler)


def report(args: argparse.Namespace) -> int:
    """Write a self-contained HTML report of a run or compare folder."""
    from viz.maps import has_cjk_font
    from viz.report import build_report, folder_kind

    if args.lang == "zh" and not has_cjk_font():
        # matplotlib would draw every Chinese word of the pictures as boxes, with a warning per character
        raise RegionDataError("--lang zh", "no font that draws Chinese is installed, so the report's pictures would show "
                                           "boxes for every Chinese word; install one (Debian: apt-get install fonts-noto-cjk; "
                                           "without administrator rights, copy its .ttc or .otf file into "
                                           "~/.local/share/fonts), or write the report in English (--lang en)")
    kind = folder_kind(args.folder)
    region = load_region(_recorded_region(args.folder))
    path = build_report(args.folder, region, args.year, lang=args.lang)
    console.print(f"wrote {path} ({kind} report, {'Chinese' if args.lang == 'zh' else 'English'}) "
                  f"and its pictures in {path.parent}", highlight=False)
    return 0


def _recorded_region(folder: Path) -> Path:
    """The region folder a run, compare or batch folder records (run.json, compare.json, sweep.json)."""
    from workflow.io import recorded_region

    region_dir = Path(recorded_region(folder))
    if not region_dir.is_absolute() and not region_dir.exists() and (PROJECT / region_dir).is_dir():
        # recorded as given, relative to where the run was started: most often the project's folder
        region_dir = PROJECT / region_dir
    return region_dir


def export(args: argparse.Namespace) -> int:
    """Write a run, compare or batch folder's township results as GIS layers (GeoPackage)."""
    import pyogrio

    from workflow.gis import export_folder
    from workflow.io import folder_kind

    kind = folder_kind(args.folder)
    region = load_region(args.region or _recorded_region(args.folder))
    path = export_folder(args.folder, region)
    layers = ", ".join(f"{name} ({pyogrio.read_info(path, layer=name)['features']:,})" for name, _ in pyogrio.list_layers(path))
    console.print(f"wrote {path} ({kind}; layers with their features: {layers}); open it in QGIS or with geopandas.read_file",
                  highlight=False)
    return 0
