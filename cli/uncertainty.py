"""The history-match and ensemble commands: what the data pin down, and projections that carry it.

Printing and files live here; the method is :mod:`workflow.history`.
"""

from __future__ import annotations

import argparse
import json

from rich.table import Table

from cli.commands import (_md_table, _members, _write_report, console, end_checkpoint, hindcast_targets, load_region,
                          refuse_uncommitted, start_checkpoint)


NO_SET_ADVICE = ("More sets (--samples), seeds or a larger --scale may find some; a target that rules out every set "
                 "points at the model or at the target's data (samples.csv holds each set's implausibility per target).")


def history_match(args: argparse.Namespace) -> int:
    """Sample the parameter box, run the hindcast for every sample and keep the non-implausible sets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from workflow import calibration as cal
    from workflow import history as hm
    from workflow.io import atomic_folder, load_params, provenance
    from workflow.memory import runs_at_once
    from workflow.runner import check_options

    region = load_region(args.region)
    targets = hindcast_targets(region, args)
    bounds = cal.parse_free(args.free) if args.free else dict(cal.DEFAULT_FREE)
    seeds = list(range(1, args.seeds + 1))
    holdout = tuple(args.holdout)
    tolerances = cal.parse_tolerances(args.tolerance or [], targets.names)  # a bad --tolerance, before any run
    # the options and memory, before the line that announces the work (history_match checks them again, for callers
    # of the library)
    check_options(region, args.from_year, args.to_year, args.scale, runs_at_once(args.workers, args.samples * len(seeds)))
    console.print(f"history matching: {args.samples} parameter sets x {len(seeds)} seeds, hindcast {args.from_year}→{args.to_year}, "
                  f"{args.workers} process(es)...", highlight=False)
    for note in cal.outside_box(load_params(args.region), bounds):
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    code = provenance()
    checkpoint = start_checkpoint(args, code)
    table = hm.history_match(args.region, region, targets, args.from_year, bounds, args.samples, seeds, args.scale,
                             load_params(args.region), holdout, args.workers, args.design_seed, checkpoint=checkpoint,
                             tolerances=tolerances)
    names = list(bounds)
    ranges = hm.summary(table, bounds)
    corr = hm.correlations(table, names)
    kept = int(table.plausible.sum())
    used = [c[2:] for c in table.columns if c.startswith("I_") and c != "I_max" and c[2:] not in holdout]
    ruled = ", ".join(f"{name} {n}" for name, n in hm.ruled_out_by(table, used).items())
    record = {"hindcast": [args.from_year, args.to_year], "county_target": args.county_target, "samples": args.samples,
              "seeds": seeds, "scale": args.scale, "design_seed": args.design_seed, "cutoff": hm.CUTOFF,
              "targets_used": used, "held_out": list(holdout),
              "tolerances": {k: cal.tolerance(k, tolerances) for k in targets.names},
              "bounds": {k: list(v) for k, v in bounds.items()},
              "non_implausible": kept, **code}
    with atomic_folder(args.out, "history-match") as tmp:
        table.to_csv(tmp / "samples.csv", index=False)
        table[table.plausible].to_csv(tmp / "plausible.csv", index=False)
        ranges.to_csv(tmp / "ranges.csv", index_label="parameter")
        corr.to_csv(tmp / "correlations.csv", index_label="parameter")
        (tmp / "history.json").write_text(json.dumps(record, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        k = len(names)
        fig, axes = plt.subplots(k, k, figsize=(2.1 * k, 2.1 * k), dpi=90, squeeze=False)
        out, keep = table[~table.plausible], table[table.plausible]
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                ax = axes[i][j]
                if i == j:
                    ax.hist([out[a], keep[a]], bins=10, range=bounds[a], stacked=True, color=["#dddddd", "#c0392b"])
                else:
                    ax.scatter(out[b], out[a], s=4, color="#cccccc")
                    ax.scatter(keep[b], keep[a], s=6, color="#c0392b")
                ax.tick_params(labelsize=6)
                if i == k - 1:
                    ax.set_xlabel(b.split(".", 1)[1], fontsize=7)
                if j == 0:
                    ax.set_ylabel(a.split(".", 1)[1], fontsize=7)
        fig.suptitle(f"Non-implausible (red) and ruled-out (grey) parameter sets, hindcast {args.from_year}→{args.to_year}", fontsize=9)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / (2.1 * k)))  # a band of 0.4 inch above the panels for the title
        fig.savefig(tmp / "pairs.png", bbox_inches="tight")
        plt.close(fig)
        md = (f"# History matching: hindcast {args.from_year} to {args.to_year}\n\n"
              f"{args.samples} parameter sets (Latin hypercube, design seed {args.design_seed}) x seeds {seeds} at scale "
              f"{args.scale}. A set is ruled out when the implausibility of any target ({', '.join(used)}) exceeds "
              f"{hm.CUTOFF:g}; held out: {', '.join(holdout) or 'none'}. **{kept} of {args.samples} sets are not ruled out.** "
              f"Sets ruled out by each target: {ruled}.\n\n"
              f"## What the data pin down\n\n"
              + (f"{_md_table(ranges.reset_index(names='parameter'))}\n\n" if kept else
                 f"Nothing: no set is left. {NO_SET_ADVICE}\n\n")
              + "## Correlations among the non-implausible sets\n\n"
              + (f"{_md_table(corr.reset_index(names='parameter'))}\n\n" if kept > 2 else
                 f"None: {kept} set(s) left, and a correlation needs at least 3.\n\n")
              + "![pairs](pairs.png)\n")
        _write_report(tmp, md)
    end_checkpoint(checkpoint)
    t = Table(title=f"History matching {args.from_year}→{args.to_year}: {kept} of {args.samples} sets not ruled out")
    for c in ("parameter", "box", "non-implausible range", "5%-95%", "share of box"):
        t.add_column(c, justify="left" if c == "parameter" else "right")
    for name, r in ranges.iterrows():
        if kept:
            t.add_row(name, f"{r.box_low:g}-{r.box_high:g}", f"{r.low:.4g}-{r.high:.4g}", f"{r.p05:.4g}-{r.p95:.4g}",
                      f"{r.share_of_box:.0%}")
        else:
            t.add_row(name, f"{r.box_low:g}-{r.box_high:g}", "none left", "", "")
    console.print(t)
    console.print(f"sets ruled out by each target: {ruled}", highlight=False, soft_wrap=True)
    if not kept:
        console.print(f"[bold]No set is left[/]: every one misses a target by more than its tolerance. {NO_SET_ADVICE}",
                      highlight=False, soft_wrap=True)
    console.print(f"results in {args.out}/ (samples.csv, plausible.csv, ranges.csv, correlations.csv, pairs.png, report.html)",
                  highlight=False)
    return 0


def ensemble(args: argparse.Namespace) -> int:
    """Run a scenario for members of a history match's non-implausible set, each with several seeds, and report
    intervals with parameter uncertainty and seed noise together and seed noise alone."""
    import pandas as pd

    from workflow.io import atomic_folder, load_params, provenance
    from workflow.runner import simulate

    region = load_region(args.region)
    members = pd.DataFrame(_members(args.history, args.members))
    params = load_params(args.region)
    runs = []
    for m, row in members.iterrows():
        for s in range(1, args.seeds + 1):
            res = simulate(args.region, args.scenario, args.start, args.end, args.scale, s, overrides=row.to_dict(),
                           region=region, params=params)
            runs.append(res.county.assign(member=m, seed=s))
    county = pd.concat(runs, ignore_index=True)
    cols = ["population", "primacy", "urbanisation", "aged60_share"]
    rows = []
    for year, g in county.groupby("year"):
        for col in cols:
            v = g[col]
            within = g.groupby("member")[col].agg(lambda x: x.quantile(0.95) - x.quantile(0.05)).mean()
            rows.append({"year": year, "indicator": col, "mean": v.mean(), "p05": v.quantile(0.05), "p95": v.quantile(0.95),
                         "seed_only_width": within, "all_width": v.quantile(0.95) - v.quantile(0.05)})
    summary = pd.DataFrame(rows)
    oos = pd.DataFrame()
    if region.observed:
        from workflow.outofsample import out_of_sample

        from workflow.compare import MEMBER_STRIDE

        oos = out_of_sample(county.assign(seed=county.member * MEMBER_STRIDE + county.seed), region.observed, region, args.start)
    record = {"history": str(args.history), "scenario": args.scenario, "members": len(members), "seeds": args.seeds,
              "scale": args.scale, "start": args.start, "end": args.end, **provenance()}
    with atomic_folder(args.out, "ensemble") as tmp:
        county.to_csv(tmp / "county_runs.csv", index=False)
        members.to_csv(tmp / "members.csv", index_label="member")
        summary.to_csv(tmp / "summary.csv", index=False)
        if len(oos):
            oos.to_csv(tmp / "out_of_sample.csv", index=False)
        (tmp / "ensemble.json").write_text(json.dumps(record, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        shown = summary[summary.year.isin([y for y in (2025, 2030, 2035) if y <= args.end])]
        md = (f"# Ensemble projection: {args.scenario}, {args.start}-{args.end}\n\n{len(members)} non-implausible parameter sets "
              f"from {args.history} x {args.seeds} seeds at scale {args.scale}. `p05`-`p95` is over all runs (parameter "
              "uncertainty and seed noise); `seed_only_width` is the mean 5%-95% width within one parameter set (seed noise "
              f"alone).\n\n{_md_table(shown)}\n")
        if len(oos):
            md += ("\n## Published statistics after the start year (held out of the history match)\n\n"
                   + _md_table(oos[["year", "indicator", "use", "observed", "model", "model_p05", "model_p95"]]) + "\n")
        _write_report(tmp, md)
    t = Table(title=f"{args.scenario}: {len(members)} parameter sets x {args.seeds} seeds")
    for c in ("year", "indicator", "mean", "5%-95% (parameters and seeds)", "width from seeds alone"):
        t.add_column(c, justify="right")
    for r in shown.itertuples():
        f = (lambda v: f"{v:,.0f}") if r.indicator == "population" else (lambda v: f"{v:.1%}")
        t.add_row(str(r.year), r.indicator, f(r.mean), f"{f(r.p05)}-{f(r.p95)}", f(r.seed_only_width))
    console.print(t)
    for r in oos.itertuples():
        f = (lambda v: f"{v:,.0f}") if r.indicator == "population" else (lambda v: f"{v:.3g}")
        console.print(f"{r.year} {r.indicator} ({r.use}): published {f(r.observed)}, ensemble {f(r.model)} "
                      f"[{f(r.model_p05)}-{f(r.model_p95)}]", highlight=False)
    console.print(f"results in {args.out}/ (county_runs.csv, members.csv, summary.csv, report.html)", highlight=False)
    return 0


def constants(args: argparse.Namespace) -> int:
    """Alternative-specific constants of the move choice that make the start year an equilibrium (no drift)."""
    import pandas as pd

    import datetime
    from dataclasses import replace

    from sim import labour as lab
    from sim.choice import balance_constants, cell_weights, expected_flows
    from sim.model import MigrationModel
    from workflow.io import load_params, provenance

    from workflow.runner import check_options

    region = load_region(args.region)
    check_options(region, args.start, args.start, args.scale)
    code = provenance()
    if args.write and not args.allow_dirty:
        refuse_uncommitted(code, region.path / "constants.csv", "constants --write", "the constants")
    params = load_params(args.region).with_overrides({"moves.constants_weight": 0.0})
    m = MigrationModel(region, params=params, start=args.start, end=args.start, scale=args.scale, seed=args.seed)
    pop, ctx = m.population, replace(m.context, constants=None)
    anchor = lab.household_anchor(pop, none=m.n_places)
    weights = cell_weights(pop, anchor, lab.household_jobless(pop), ctx.anchors, m.moves, m.n)
    before_in, before_out = expected_flows(ctx, m.moves, weights)
    shares = pop.counts_by_place(m.n)[1].reshape(-1) if args.criterion == "shares" else None  # households per part
    c = balance_constants(ctx, m.moves, weights, shares=shares, iterations=args.iterations)
    after_in, after_out = expected_flows(replace(ctx, constants=c), m.moves, weights)
    table = pd.DataFrame({"code": m.codes, "name": [region.township(k).name_zh for k in m.codes],
                          "urban": c[:, 0].round(4), "rural": c[:, 1].round(4),
                          "net_before_urban": (before_in - before_out)[0::2] / args.scale,
                          "net_before_rural": (before_in - before_out)[1::2] / args.scale,
                          "net_after": ((after_in - after_out).reshape(-1, 2).sum(axis=1)) / args.scale})
    goal = "movers in proportion to households" if args.criterion == "shares" else "no net drift"
    t = Table(title=f"Move-choice constants: the start year {args.start} as an equilibrium of the move choice ({goal}; "
                    "expected net moves a year)")
    for col in ("township", "urban", "rural", "net moves before (urban / rural)", "after"):
        t.add_column(col, justify="left" if col == "township" else "right")
    for r in table.itertuples():
        t.add_row(r.name, f"{r.urban:+.3f}", f"{r.rural:+.3f}", f"{r.net_before_urban:+,.0f} / {r.net_before_rural:+,.0f}",
                  f"{r.net_after:+,.0f}")
    console.print(t)
    if args.write:
        source = (f"calibrated {datetime.date.today().isoformat()}: run.py constants --start {args.start} --scale {args.scale} "
                  f"--seed {args.seed} --criterion {args.criterion}; movers choose the {args.start} parts "
                  f"{'in proportion to their households' if args.criterion == 'shares' else 'so that none gains or loses'} (commit "
                  f"{code['git_commit']}{', with uncommitted changes' if code['git_dirty'] else ''})")
        out = table[["code", "urban", "rural"]].assign(source=source)
        path = region.path / "constants.csv"
        tmp = path.with_name(".constants.csv.tmp")
        out.to_csv(tmp, index=False)
        tmp.replace(path)
        yaml_path = region.path / "region.yaml"
        text = yaml_path.read_text(encoding="utf-8")
        if region.config.files.constants is None:
            lines = text.splitlines(keepends=True)
            at = next(i for i, line in enumerate(lines) if line.rstrip() == "files:")
            lines.insert(at + 1, "  constants: constants.csv   # move-choice constants, written by run.py constants\n")
            tmp = yaml_path.with_name(".region.yaml.tmp")
            tmp.write_text("".join(lines), encoding="utf-8")
            tmp.replace(yaml_path)
        console.print(f"written to {path} (and named in region.yaml files.constants)", highlight=False)
    else:
        console.print("add --write to store them in the region (constants.csv)", highlight=False)
    return 0
