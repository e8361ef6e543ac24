"""What each run.py command does. Printing and files live here, never in geo/ or sim/."""

from __future__ import annotations

import argparse
from collections import Counter

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
    console.print(f"{len(region.nodes)} nodes, {len(region.edges)} edges with years, {len(region.candidate_edges)} candidate edges "
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
    import time

    import pandas as pd
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from cli.io import load_params, provenance, scenario_path, write_run
    from sim.model import MigrationModel

    region = load_region(args.region)
    params = load_params(args.region)
    scenario_file = scenario_path(args.region, args.scenario)
    if not 0.001 <= args.scale <= 1.0:
        raise RegionDataError("--scale", f"expected a share of households between 0.001 and 1.0, got {args.scale}")
    if args.end < args.start:
        raise RegionDataError("--end", f"end year {args.end} is before start year {args.start}")
    if args.start not in region.config.census:
        raise RegionDataError("--start", f"no census for {args.start} in region.yaml (census years: {', '.join(map(str, region.config.census))})")
    t0 = time.perf_counter()
    model = MigrationModel(region, params=params, start=args.start, end=args.end, scale=args.scale, seed=args.seed)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} years"),
                  TimeElapsedColumn(), console=console, transient=not console.is_terminal) as bar:
        task = bar.add_task(f"{region.config.name} {args.scenario}", total=args.end - args.start)
        while model.running and model.year < args.end:
            model.step()
            bar.update(task, advance=1, description=f"{region.config.name} {args.scenario} {model.year}")
    runtime = time.perf_counter() - t0
    county = model.datacollector.get_model_vars_dataframe()
    townships = pd.DataFrame(model.township_records)
    flows = pd.DataFrame(model.flows, columns=["year", "origin", "destination", "households", "persons"])
    meta = {"region": str(args.region), "region_name": region.config.name, "scenario": args.scenario,
            "scenario_file": str(scenario_file), "start": args.start, "end": args.end, "seed": args.seed, "scale": args.scale,
            "parameters": params.model_dump(), **provenance(), "runtime_seconds": round(runtime, 3),
            "households_simulated_at_end": model.population.n_households}
    out = write_run(args.out, county, townships, flows, meta)
    console.print(target_table(region, county))
    console.print(f"{args.end - args.start} years in {runtime:.1f} s; results in {out}/ (county.csv, townships.csv, flows.parquet, run.json)", highlight=False)
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
