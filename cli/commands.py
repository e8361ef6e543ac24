"""What each run.py command does. Printing and files live here, never in geo/ or sim/."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from geo.region import RegionDataError, load_region, seat_points

console = Console(width=None if Console().is_terminal else 140)


def run_safely(func, args: argparse.Namespace) -> int:
    """Run a command; bad input prints one clear line and exits 2 instead of a traceback."""
    try:
        return func(args) or 0
    except RegionDataError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        return 2


def check_config(args: argparse.Namespace) -> int:
    region = load_region(args.region)
    cfg = region.config
    console.print(f"[bold]{cfg.name}[/] ({cfg.name_local or ''}) from {region.path}: valid", highlight=False)
    area = region.area_km2()
    t = Table(title="Townships")
    for col in ("code", "name", "pop 2010", "pop 2020", "urban 2020", "jobs 2020", "area km² (polygon)"):
        t.add_column(col, justify="right" if col not in ("code", "name") else "left")
    for tw in region.townships:
        t.add_row(tw.code, f"{tw.name_zh} {tw.name_en}", f"{tw.pop_2010:,}", f"{tw.pop_2020:,}",
                  f"{tw.urban_pop_2020 / tw.pop_2020:.1%}", f"{region.economy[tw.code].jobs:,}", f"{area[tw.code]:.1f}")
    p10, p20 = region.total_population(2010), region.total_population(2020)
    u20 = sum(tw.urban_pop_2020 for tw in region.townships)
    t.add_row("", "[bold]county[/]", f"{p10:,}", f"{p20:,}", f"{u20 / p20:.2%}",
              f"{sum(e.jobs for e in region.economy.values()):,}", f"{area.sum():.1f}")
    console.print(t)
    for name, g in cfg.groups.items():
        share10 = sum(region.township(c).pop_2010 for c in g.members) / p10
        share20 = sum(region.township(c).pop_2020 for c in g.members) / p20
        console.print(f"group {name} ({g.label}): {len(g.members)} townships, share {share10:.2%} (2010) → {share20:.2%} (2020)", highlight=False)
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
                  f"(projects without years, for scenarios); {len(cfg.external_zones)} external zones; targets: {', '.join(cfg.targets)}", highlight=False)
    return 0


def draw_map(args: argparse.Namespace) -> int:
    from viz.maps import draw_region_map

    region = load_region(args.region)
    out = draw_region_map(region, args.year, args.out, since=args.since)
    console.print(f"map of {args.year} written to {out}", highlight=False)
    return 0


def make_polygons(args: argparse.Namespace) -> int:
    from geo.polygons import approximate_township_polygons, write_polygons

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


def run_model(args: argparse.Namespace) -> int:
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
    out = write_run(args.out, result.county, result.townships, result.flows, result.meta)
    console.print(target_table(region, result.county))
    console.print(f"{args.end - args.start} years in {result.meta['runtime_seconds']:.1f} s; results in {out}/ "
                  "(county.csv, townships.csv, flows.parquet, run.json)", highlight=False)
    return 0


def target_table(region, county) -> Table:
    """Each plan indicator for the target years: simulated value, target, met or not."""
    t = Table(title="Plan indicators: simulated vs target (seed 000 表6)")
    for col in ("indicator", "year", "simulated", "target", "met"):
        t.add_column(col, justify="left" if col == "indicator" else "right")
    by_year = county.set_index("year")
    for key, target in region.config.targets.items():
        if key not in by_year.columns:
            continue
        for year, goal in sorted(target.by_year.items()):
            if year not in by_year.index:
                continue
            value = float(by_year.loc[year, key])
            fmt = (lambda v: f"{v:,.0f}") if target.unit == "persons" else (lambda v: f"{v:.2%}")
            sign = "≥" if target.kind == "min" else "≤"
            met = target.met(value, year)
            t.add_row(target.label, str(year), fmt(value), f"{sign} {fmt(goal)}", "[green]yes[/]" if met else "[red]no[/]")
    return t


def compare(args: argparse.Namespace) -> int:
    import json

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from viz.charts import difference_map, indicator_chart
    from workflow.compare import run_all, summarise, township_difference
    from workflow.io import atomic_folder, provenance

    if len(set(args.scenarios)) != len(args.scenarios):
        raise RegionDataError("--scenarios", f"a scenario is named twice: {' '.join(args.scenarios)}")
    if args.seeds < 1:
        raise RegionDataError("--seeds", f"expected at least 1 seed, got {args.seeds}")
    region = load_region(args.region)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    total = len(args.scenarios) * len(seeds)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=not console.is_terminal) as bar:
        task = bar.add_task("runs", total=total)
        county, towns, meta = run_all(args.region, args.scenarios, seeds, args.start, args.end, args.scale,
                                      workers=args.workers, on_done=lambda s, k: bar.update(task, advance=1, description=f"{s} seed {k}"))
    targets = region.config.targets
    years = sorted({y for t in targets.values() for y in t.by_year if args.start < y <= args.end} | {args.end})
    summary = summarise(county, args.scenarios, years, targets)
    ref = args.scenarios[0]
    diff = township_difference(towns, args.scenarios, args.end)
    with atomic_folder(args.out) as tmp:
        county.to_csv(tmp / "county_runs.csv", index=False)
        towns.to_csv(tmp / "townships_runs.csv", index=False)
        summary.to_csv(tmp / "summary.csv", index=False)
        diff.to_csv(tmp / f"township_difference_{args.end}.csv", index=False)
        indicator_chart(county, args.scenarios, targets, tmp / "indicators.png")
        for s in args.scenarios[1:]:
            difference_map(region, diff[diff.scenario == s], s, ref, args.end, tmp / f"difference_{s}_{args.end}.png")
        (tmp / "compare.json").write_text(json.dumps({
            "region": str(args.region), "scenarios": args.scenarios, "reference": ref, "seeds": seeds, "scale": args.scale,
            "start": args.start, "end": args.end, "common_random_numbers": True, "scenario_runs": meta, **provenance()},
            indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    console.print(compare_table(summary, targets, args.scenarios))
    console.print(f"{total} runs ({len(args.scenarios)} scenarios x {len(seeds)} seeds, scale {args.scale}); results in {args.out}/ "
                  "(summary.csv, county_runs.csv, townships_runs.csv, indicators.png, difference maps, compare.json)", highlight=False)
    return 0


def compare_table(summary, targets, scenarios) -> Table:
    """Plan indicators per scenario: mean [90% interval], difference from the first scenario, target met."""
    t = Table(title=f"Scenarios compared (mean over seeds [5%–95%]; Δ = paired difference from {scenarios[0]})")
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
                text = f"{fmt(r['mean'])} [{fmt(r['p05'])}–{fmt(r['p95'])}]"
                if s != scenarios[0]:
                    dfmt = (lambda v: f"{v / 1e4:+,.2f}万") if persons else (lambda v: f"{v * 100:+.2f} pt")
                    text += f"\nΔ {dfmt(r['diff_mean'])} [{dfmt(r['diff_p05'])}, {dfmt(r['diff_p95'])}]"
                if "met" in r and isinstance(r["met"], (bool, np.bool_)):
                    text += "  [green]met[/]" if r["met"] else "  [red]not met[/]"
                cells.append(text)
            goal = target.by_year.get(year)
            sign = "≥" if target.kind == "min" else "≤"
            t.add_row(target.label, str(year), "" if goal is None else f"{sign} {fmt(goal)}", *cells)
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


def _client(args):
    if args.scheduler:
        from distributed import Client

        return Client(args.scheduler)
    return None


def batch(args: argparse.Namespace) -> int:
    from batch.engine import run_batch
    from batch.store import ResultStore
    from batch.sweep import expand, read_sweep
    from workflow.io import provenance

    spec = read_sweep(args.sweep)
    runs = expand(spec, source=args.sweep)
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
        console.print(f"[red]failed[/] {run_id}: {err}", highlight=False)
    return 1 if summary["failed"] else 0


def sensitivity(args: argparse.Namespace) -> int:
    import json

    from batch import sensitivity as sa
    from batch.engine import run_batch
    from workflow.io import provenance

    spec = sa.read_spec(args.spec)
    X = sa.sample(spec)
    runs = sa.runs_for(spec, X, Path(spec.region))
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
