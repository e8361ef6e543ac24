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
