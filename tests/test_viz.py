"""The server's controls, the live map's data and the report, without a browser (toy region, few agents)."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from geo.region import RegionDataError, load_region
from sim.model import MigrationModel
from sim.indicators import county_columns
from sim.params import Params
from sim.scenario import compile_levers
from fake_npm import write_fake_npm
from toy import write_scenario
from viz.controls import control_levers, load_server_config, toggle_levers
from viz.mapview import MAP_INDICATORS, colour_scale, network_geojson, township_card, township_geojson
from workflow.scenarios import load_scenario


def _toy_server(toy):
    write_scenario(toy, "fast_link", [{"type": "add_link", "project": "cx", "year": 2024, "source": "toy"}])
    write_scenario(toy, "fast_link_plus", [], base="fast_link")
    (toy / "server.yaml").write_text(yaml.safe_dump({
        "start": 2020, "end": 2030, "scale": 0.2, "seed": 3,
        "toggles": [{"key": "fast", "label": "C–city road", "scenario": "fast_link"}],
        "jobs": {"max": 2000, "step": 100, "build_years": 3,
                 "platforms": [{"name": "Beta park", "township": "B", "sector": "secondary", "source": "toy"}]},
        "hukou": {"year": 2022}}, allow_unicode=True), encoding="utf-8")
    return load_server_config(toy)


def test_controls_become_levers(toy):
    cfg = _toy_server(toy)
    params = Params()
    base = load_scenario(toy, "baseline")
    levers, lines = control_levers(toy, cfg, params, base, {"fast": True, "fast_year": 2027, "platform": "Beta park",
                                                             "platform_jobs": 1500, "hukou_openness": 0.6,
                                                             "tfr": params.demography.tfr})
    kinds = [lv.type for lv in levers]
    assert kinds == ["add_link", "jobs", "hukou"]          # TFR equal to params.yaml adds no lever
    assert levers[0].year == 2027                          # moved from the file's 2024 to the slider's year
    assert levers[1].years == (2021, 2023) and levers[1].jobs == 1500
    assert levers[2].year == 2022 and levers[2].openness == 0.6
    assert any("on from 2027" in line for line in lines)
    region = load_region(toy)
    iv = compile_levers([*base.levers, *levers], region, 2020, 2030)
    assert any(e.open_year == 2027 for e in iv.edges)
    assert sum(v.sum() for v in iv.jobs.values()) == pytest.approx(1500)


def test_toggle_already_in_scenario_adds_nothing(toy):
    cfg = _toy_server(toy)
    levers, lines = control_levers(toy, cfg, Params(), load_scenario(toy, "fast_link_plus"), {"fast": True})
    assert levers == [] and "already in scenario" in lines[0]


def test_toggle_keeps_span_length(toy):
    write_scenario(toy, "jobs_span", [{"type": "jobs", "township": "A", "sector": "tertiary", "jobs": 100,
                                       "years": [2022, 2025], "source": "toy"}])
    cfg = _toy_server(toy)
    toggle = cfg.toggles[0].model_copy(update={"scenario": "jobs_span"})
    (moved,) = toggle_levers(toy, toggle, 2026)
    assert moved.years == (2026, 2029)


def test_bad_server_file_is_a_clear_error(toy):
    _toy_server(toy)
    doc = yaml.safe_load((toy / "server.yaml").read_text(encoding="utf-8"))
    doc["toggles"][0]["scenario"] = "no_such"
    (toy / "server.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(RegionDataError, match=r"server.yaml.*toggles\[0\].scenario"):
        load_server_config(toy)
    doc["toggles"][0]["scenario"] = "fast_link"
    doc["jobs"]["platforms"][0]["sector"] = "mining"
    (toy / "server.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(RegionDataError, match=r"server.yaml.*sector"):
        load_server_config(toy)


@pytest.mark.parametrize("edit, needle", [
    (lambda d: d.update(end=2019), "end (2019) must be after start (2020)"),
    (lambda d: d.update(start=2019), "field 'start': no census for 2019"),
    (lambda d: d.update(seed=-1), "field 'seed'"),
    (lambda d: d["jobs"].update(build_years=11), "jobs.build_years (11) must fit in the years the page runs"),
    (lambda d: d["jobs"].update(step=5000), "jobs.step (5,000) must be at most jobs.max (2,000)"),
    (lambda d: d["jobs"].update(max=10**9), "field 'jobs.max': 1,000,000,000 jobs is more than the whole region's"),
    (lambda d: d["hukou"].update(year=2031), "hukou.year (2031) must be a year the page runs (2021-2030)"),
    (lambda d: d["toggles"].append({**d["toggles"][0]}), "toggles[1].key 'fast' gives a control the name 'fast'"),
    (lambda d: d["toggles"][0].update(key="tfr"), "toggles[0].key 'tfr' gives a control the name 'tfr'"),
    (lambda d: d["jobs"]["platforms"].append({**d["jobs"]["platforms"][0]}), "platform 'Beta park' is listed twice"),
    (lambda d: d["toggles"].__setitem__(0, "fast_link"), "field 'toggles[0]': expected a mapping of keys (key, label,"),
    (lambda d: d["toggles"][0].update(scenario="broken"), "field 'toggles[0].scenario': its scenario cannot be used"),
    (lambda d: d["toggles"][0].update(scenario="late"), "scenario 'late', levers[0].year: year 2033 is outside the run"),
], ids=["end-before-start", "start-no-census", "seed-negative", "build-years", "step", "max-jobs", "hukou-year",
        "toggle-key-twice", "toggle-key-reserved", "platform-twice", "toggle-not-mapping", "toggle-broken-scenario",
        "toggle-lever-outside-run"])
def test_a_server_file_the_page_cannot_use_is_refused_before_it_serves(edit, needle, toy):
    """Found by fuzzing server.yaml: each of these passed the check that ``serve`` runs first and then broke the page
    (an end before the start, a jobs slider the model refuses at its top, a toggle whose scenario does not read) or
    made two controls one (a toggle keyed like another control)."""
    _toy_server(toy)
    (toy / "scenarios" / "broken.yaml").write_text("name: broken\nlevers: 3\n", encoding="utf-8")
    write_scenario(toy, "late", [{"type": "add_link", "project": "cx", "year": 2033, "source": "toy"}])
    doc = yaml.safe_load((toy / "server.yaml").read_text(encoding="utf-8"))
    edit(doc)
    (toy / "server.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(RegionDataError) as e:
        load_server_config(toy, load_region(toy))
    assert "server.yaml" in str(e.value) and needle in str(e.value), str(e.value)


def test_the_page_refuses_a_scale_that_does_not_fit_in_memory_on_reset(monkeypatch):
    """The scale slider reaches beyond server.yaml's scale, which serve checked; Reset says what would not fit
    instead of filling the machine's memory."""
    import viz.app as app
    import workflow.memory as memory

    monkeypatch.setattr(memory, "available_mb", lambda: 400.0)  # 0.01 needs 310 MB, 0.2 about 507
    with pytest.raises(ValueError, match=r"the page's 6 models .* would need about [\d,]+ MB of memory"):
        app.ServerModel(scale=0.2, seed=3)
    assert app.ServerModel(scale=0.01, seed=3).year == app.server.start


def test_unknown_platform_is_a_clear_error(toy):
    cfg = _toy_server(toy)
    with pytest.raises(RegionDataError, match="unknown platform 'Nowhere'"):
        control_levers(toy, cfg, Params(), load_scenario(toy, "baseline"), {"platform": "Nowhere", "platform_jobs": 5})


def _model(toy, levers=()):
    region = load_region(toy)
    iv = compile_levers(list(levers), region, 2020, 2030)
    return region, MigrationModel(region, start=2020, end=2030, scale=0.3, seed=2, interventions=iv)


def test_map_colours_legend_and_card(toy):
    region, m = _model(toy)
    m.step()
    towns, legend = township_geojson(m, region, "population", selected="B")
    assert len(towns["features"]) == 3 and len(legend) == 5
    by_code = {f["properties"]["code"]: f["properties"] for f in towns["features"]}
    # the most populous township gets the darkest colour of the legend, the least the lightest
    pops = {c: p["value"] for c, p in by_code.items()}
    assert by_code[max(pops, key=pops.get)]["style"]["fillColor"] == legend[-1][1]
    assert by_code[min(pops, key=pops.get)]["style"]["fillColor"] == legend[0][1]
    assert by_code["B"]["style"]["weight"] > by_code["A"]["style"]["weight"]
    change, _ = township_geojson(m, region, "change")
    assert any(f["properties"]["value"] != 0 for f in change["features"])
    card = dict(township_card(m, region, "A"))
    assert card["Township"] == "Alpha Alpha"
    assert all(spec.label in card for spec in MAP_INDICATORS.values())
    assert card["Resident population"] == f"{pops['A']:,.0f}"
    # the 60+ share is the township record's, as townships.csv has it
    old, _ = township_geojson(m, region, "aged60_share")
    record = {r["township"]: r for r in m.township_records if r["year"] == m.year}
    for f in old["features"]:
        r = record[f["properties"]["code"]]
        assert f["properties"]["value"] == pytest.approx(100 * r["aged60"] / r["population"])
    assert card["Share of residents aged 60 and over"] == f"{100 * record['A']['aged60'] / record['A']['population']:.1f}%"


def test_diverging_scale_is_centred():
    colour, steps = colour_scale([-5.0, 1.0, 2.0], diverging=True)
    assert steps[0][0] == -5.0 and steps[-1][0] == 5.0 and steps[2][0] == 0.0
    assert colour(0.0) == steps[2][1]


def test_map_colours_are_matplotlibs_for_the_same_norm_and_colour_map():
    """colour_scale looks colours up in the colour map's table: every value, in range or not, missing or infinite,
    must get the colour matplotlib's norm and colour map give it."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize, TwoSlopeNorm, to_hex

    rng = np.random.default_rng(1)
    for trial in range(300):
        values = list(rng.normal(rng.normal(0, 50), rng.uniform(0.001, 100), int(rng.integers(1, 20))))
        values = [3.0] * len(values) if trial % 7 == 0 else values  # all equal: a scale of width 1
        for diverging in (True, False):
            colour, _ = colour_scale(values, diverging)
            lo, hi = min(values), max(values)
            if diverging:
                m = max(abs(lo), abs(hi), 1e-9)
                norm, cmap = TwoSlopeNorm(vcenter=0.0, vmin=-m, vmax=m), colormaps["RdBu"]
            else:
                norm, cmap = Normalize(vmin=lo, vmax=hi if hi - lo >= 1e-12 else lo + 1.0), colormaps["YlOrRd"]
            for v in [*values, 0.0, lo - 1, hi + 1, float("nan"), float("inf"), -float("inf")]:
                assert colour(v) == to_hex(cmap(0.12 + 0.76 * float(norm(v)))), (values, diverging, v)


def test_network_dashes_links_that_open_later(toy):
    write_scenario(toy, "fast_link", [{"type": "add_link", "project": "cx", "year": 2024, "source": "toy"}])
    region, m = _model(toy, load_scenario(toy, "fast_link").levers)
    net = network_geojson(m)
    future = {f["properties"]["id"] for f in net["features"] if f["properties"]["future"]}
    assert {"ac", "cx"} <= future                  # ac opens 2026 (edges.csv), cx 2024 (the lever)
    assert all(f["properties"]["style"]["dashArray"] for f in net["features"] if f["properties"]["future"])
    while m.year < 2026:
        m.step()
    assert not any(f["properties"]["future"] for f in network_geojson(m)["features"])


def test_report_of_run_and_compare(toy, tmp_path):
    from cli.commands import run_safely
    from run import build_parser

    def cli(*argv):
        args = build_parser().parse_args(list(argv))
        return run_safely(args.func, args)

    run_dir, cmp_dir = tmp_path / "run", tmp_path / "cmp"
    assert cli("run", "--region", str(toy), "--scale", "0.3", "--end", "2026", "--out", str(run_dir)) == 0
    assert cli("report", str(run_dir)) == 0
    html = (run_dir / "report" / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 5          # self-contained: the pictures are inside
    assert "Alpha" in html and "Provenance" in html and json.loads((run_dir / "run.json").read_text())["seed"] == 42
    assert {p.name for p in (run_dir / "report").glob("*.png")} - {"flows_2026.png"} == {"indicators.png", "change_2026.png",
                                                                   "population_2026.png", "townships_2026.png"}
    write_scenario(toy, "fast_link", [{"type": "add_link", "project": "cx", "year": 2022, "source": "toy"}])
    assert cli("compare", "--region", str(toy), "--scenarios", "baseline", "fast_link", "--seeds", "2", "--scale", "0.3",
               "--end", "2026", "--workers", "1", "--out", str(cmp_dir)) == 0
    assert cli("report", str(cmp_dir)) == 0
    html = (cmp_dir / "report" / "report.html").read_text(encoding="utf-8")
    assert "Differences from baseline" in html and "fast_link" in html and html.count("data:image/png;base64,") == 2
    assert cli("report", str(tmp_path)) == 2                   # not a run folder: clear error, exit 2
    assert cli("report", str(run_dir), "--year", "2040") == 2  # a year outside the run


def test_a_chinese_report_without_a_chinese_font_is_one_line(toy, tmp_path, monkeypatch, capsys):
    """Without a font that draws Chinese, matplotlib would draw the pictures' Chinese as boxes (and warn once per
    character): ``report --lang zh`` says so in one line and writes nothing; the English report still works."""
    import viz.maps
    from cli.commands import run_safely
    from run import build_parser

    def cli(*argv):
        args = build_parser().parse_args(list(argv))
        return run_safely(args.func, args)

    run_dir = tmp_path / "run"
    assert cli("run", "--region", str(toy), "--scale", "0.3", "--end", "2021", "--out", str(run_dir)) == 0
    capsys.readouterr()
    monkeypatch.setattr(viz.maps, "has_cjk_font", lambda: False)
    assert cli("report", str(run_dir), "--lang", "zh") == 2
    out = capsys.readouterr().out
    assert out.startswith("error: --lang zh: no font that draws Chinese") and "fonts-noto-cjk" in out, out
    assert not (run_dir / "report").exists()
    assert cli("report", str(run_dir)) == 0 and (run_dir / "report" / "report.html").is_file()


def test_the_page_warns_once_at_start_without_a_chinese_font():
    """The page offers Chinese to every visitor, so a missing font is a warning at the server's start, not an error."""
    import subprocess
    import sys

    hide = textwrap.dedent("""
        from matplotlib import font_manager
        import viz.maps
        font_manager.fontManager.ttflist = [f for f in font_manager.fontManager.ttflist if f.name not in viz.maps.CJK_FONTS]
        font_manager.findSystemFonts = lambda *args, **kwargs: []
        viz.maps.has_cjk_font.cache_clear()
        import viz.app
    """)
    out = subprocess.run([sys.executable, "-c", hide], cwd=Path(__file__).resolve().parents[1], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stderr.count("warning: no font that draws Chinese") == 1, out.stderr[-2000:]


def test_region_map_legend_lists_only_the_modes_it_draws(toy, tmp_path, monkeypatch):
    """A new region's network has a few modes; its map's legend should not list motorways, rail and metro it lacks,
    nor 'opened after' when nothing opened."""
    import viz.maps
    from geo.network import network_for_year

    region = load_region(toy)
    legends = []
    original = viz.maps.save_figure
    monkeypatch.setattr(viz.maps, "save_figure", lambda fig, out: (legends.append(
        [t.get_text() for t in fig.axes[0].get_legend().get_texts()]), original(fig, out))[1])
    viz.maps.draw_region_map(region, 2030, tmp_path / "map.png", since=2020)
    modes = {d["mode"] for _, _, d in network_for_year(region.nodes, region.edges, 2030).edges(data=True)}
    opened = any(d["open_year"] > 2020 for _, _, d in network_for_year(region.nodes, region.edges, 2030).edges(data=True))
    assert set(legends[0]) - {"opened after 2020"} == modes and ("opened after 2020" in legends[0]) == opened
    viz.maps.draw_region_map(region, 2030, tmp_path / "map.png", since=2035)  # nothing opened after 2035
    assert "opened after 2035" not in legends[1] and set(legends[1]) == modes


def test_assets_list_follows_installed_solara():
    from viz.assets import needed_packages

    names = dict(needed_packages())
    assert "requirejs" in names and any(n.startswith("@widgetti/solara-vuetify") for n in names)


def test_missing_browser_files_without_npm_is_a_clear_error(tmp_path, monkeypatch):
    import viz.assets as assets

    monkeypatch.setattr(assets.shutil, "which", lambda name: None)
    with pytest.raises(assets.AssetError, match="npm is not installed.*requirejs@"):
        assets.ensure_assets(log=lambda m: None, cache=tmp_path)


def test_browser_files_are_fetched_with_one_npm_call(tmp_path, monkeypatch):
    """Every missing package lands in the cache, unpacked, from one npm call; a second call fetches nothing; a package
    npm did not write is a clear error naming it."""
    import viz.assets as assets

    calls = []
    npm = str(write_fake_npm(tmp_path / "bin"))
    monkeypatch.setattr(assets.shutil, "which", lambda name: calls.append(name) or npm)
    cache = tmp_path / "cache"
    fetched = assets.ensure_assets(log=lambda m: None, cache=cache)
    assert fetched == assets.needed_packages() and len(fetched) >= 3 and calls == ["npm"]
    for package, version in fetched:
        assert json.loads((cache / f"{package}@{version}" / "package.json").read_text())["version"] == version
    assert assets.ensure_assets(log=lambda m: None, cache=cache) == []

    package, version = assets.needed_packages()[0]
    monkeypatch.setattr(assets.shutil, "which", lambda name: str(write_fake_npm(tmp_path / "bin2", skip=package)))
    with pytest.raises(assets.AssetError, match=f"could not fetch {package}@{version}: it wrote no package file"):
        assets.ensure_assets(log=lambda m: None, cache=tmp_path / "other")


def test_server_jobs_control_fills_its_township():
    """The page's jobs control on the first platform (Pingyang's server.yaml): the map's jobs and jobs-filled layers rise
    in the platform's township, and the jobs are held by workers, not left empty."""
    import viz.app as app
    from viz.mapview import township_values

    platform = app.server.jobs.platforms[0]
    code = next(t.code for t in app.region.townships if platform.township in (t.name_zh, t.name_zh.rstrip("镇乡"), t.code))
    layers = {}
    for jobs in (0, 10000):
        m = app.ServerModel(scale=0.05, seed=3, platform=platform.name, platform_jobs=jobs)
        for _ in range(5):
            m.step()
        layers[jobs] = {k: township_values(m, k)[code] for k in ("jobs", "workers")}
    assert layers[10000]["jobs"] - layers[0]["jobs"] > 9000
    assert layers[10000]["workers"] - layers[0]["workers"] > 8000


def test_untouched_controls_run_exactly_as_run_py():
    """Reset with untouched controls builds the same model as `run.py run` with the page's seed and scale: byte-identical
    county results to the end year; every slider's default sits on its slider's grid (a slider shows and returns only
    grid values)."""
    import viz.app as app
    from workflow.runner import simulate

    for key, spec in app.model_params().items():
        if spec["type"] in ("SliderFloat", "SliderInt"):
            k = (spec["value"] - spec["min"]) / spec["step"]
            assert abs(k - round(k)) < 1e-6 and spec["min"] <= spec["value"] <= spec["max"], key
    m = app.ServerModel(**app.default_controls())
    while m.year < m.end:
        m.step()
    m.step()  # at the end year a further Step does nothing
    page = m.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    ref = simulate(app.REGION_DIR, "baseline", app.server.start, app.server.end, app.server.scale, app.server.seed).county
    assert page.to_csv(index=False) == ref.to_csv(index=False)


def test_page_tables_for_download_match_the_run_files():
    import viz.app as app
    from workflow.runner import simulate

    m = app.ServerModel(**app.default_controls())
    for _ in range(2):
        m.step()
    ref = simulate(app.REGION_DIR, "baseline", app.server.start, app.server.start + 2, app.server.scale, app.server.seed)
    assert app.model_table(m, "county").to_csv(index=False) == ref.county.to_csv(index=False)
    assert app.model_table(m, "townships").to_csv(index=False) == ref.townships.to_csv(index=False)
    assert app.model_table(m, "commuting").to_csv(index=False) == ref.commuting.to_csv(index=False)


def test_server_jobs_control_works_for_every_platform():
    import viz.app as app

    for p in app.server.jobs.platforms:
        m = app.ServerModel(scale=0.01, seed=1, platform=p.name, platform_jobs=3000)
        m.step()
        assert any(p.name in line for line in m.lever_lines), p.name


def test_difference_map_marks_differences_beyond_seed_noise_and_spreads_labels(toy, tmp_path):
    import pandas as pd

    from viz.charts import difference_map, spread_labels

    region = load_region(toy)
    diff = pd.DataFrame({"township": ["A", "B", "C"], "diff_mean": [500.0, 20.0, -300.0],
                         "diff_p05": [300.0, -50.0, -500.0], "diff_p95": [700.0, 90.0, -100.0]})
    import viz.charts

    labels = []
    original = viz.charts.save_figure
    viz.charts.save_figure = lambda fig, out: (labels.append([a.get_ylabel() for a in fig.axes]), original(fig, out))[1]
    try:
        out = difference_map(region, diff, "jobs", "baseline", 2030, tmp_path / "d.png",
                             names={"jobs": "10,000 jobs at the Binhai platform (Haixi)"})
    finally:
        viz.charts.save_figure = original
    assert out.exists() and out.stat().st_size > 10000
    # the colour bar's label is short: the title names the scenarios, whose titles are long
    assert "difference in residents, 2030" in labels[0] and not any("Binhai" in x for x in labels[0]), labels
    # labels closer than a label box are pushed apart until no two boxes overlap
    pts = spread_labels([[0.0, 0.0], [0.2, 0.1], [0.4, -0.1], [5.0, 5.0]], (1.0, 0.5))
    for i in range(4):
        for j in range(i + 1, 4):
            assert abs(pts[i, 0] - pts[j, 0]) >= 1.0 or abs(pts[i, 1] - pts[j, 1]) >= 0.5 - 1e-6
    assert tuple(pts[3]) == (5.0, 5.0)


def test_report_title_has_no_local_path_and_has_date_and_summary(tmp_path):
    import datetime

    import run

    out = tmp_path / "deep" / "folder" / "myrun"
    assert run.main(["run", "--region", "configs/pingyang", "--scale", "0.01", "--end", "2025", "--seed", "2", "--out", str(out)]) == 0
    assert run.main(["report", str(out)]) == 0
    page = (out / "report" / "report.html").read_text(encoding="utf-8")
    title = page[page.index("<h1>"):page.index("</p>", page.index("<h1>"))]
    assert str(tmp_path) not in title and "“myrun”" in title and datetime.date.today().isoformat() in title
    assert "<h2>Summary</h2>" in page and "plan targets met" in page


def test_server_platform_in_an_unknown_township_is_a_clear_error(toy):
    import run
    from viz.controls import load_server_config

    (toy / "server.yaml").write_text(yaml.safe_dump({"jobs": {"platforms": [
        {"name": "Alpha park", "township": "Alpha", "sector": "secondary"},
        {"name": "Nowhere park", "township": "Nowhere", "sector": "secondary"}]}}), encoding="utf-8")
    with pytest.raises(RegionDataError) as e:
        load_server_config(toy, load_region(toy))
    assert e.value.field == "jobs.platforms[1].township" and "unknown township 'Nowhere'" in str(e.value)
    assert run.main(["check-config", str(toy)]) == 2


def _latin(text: str) -> list[str]:
    return re.findall(r"[A-Za-z][A-Za-z_\-]+", re.sub(r"\b\w+\.(png|csv|yaml|parquet)\b", "", text))


def test_server_indicator_panels_reuse_their_layout_exactly(pingyang):
    """The page's indicator panels measure their layout once per set of arguments (each Reset builds them anew):
    panels laid out from the kept parameters draw the same pixels as panels measured anew, and other arguments (the
    other language) are measured for themselves."""
    import numpy as np

    from viz import charts

    columns = [c for c in charts.chart_indicators(county_columns(pingyang.config.groups)) if c != "migrant_population"]
    county = pd.DataFrame({"year": [2020, 2021], **{c: [0.4, 0.45] if c.endswith("share") or c in ("primacy", "urbanisation", "dependency_ratio")
                                                        else [8e5, 8.1e5] for c in columns}})
    make = lambda lang="en": charts.LiveIndicators(pingyang.config.targets, columns, (2020, 2035), "baseline", width=11,
                                                   cols=3, lang=lang)
    charts.LAYOUTS.clear()
    measured = make()
    assert len(charts.LAYOUTS) == 1
    reused = make()
    assert len(charts.LAYOUTS) == 1
    assert charts.subplot_params(reused.fig) == charts.subplot_params(measured.fig)
    assert reused.png(county, "to 2021") == measured.png(county, "to 2021")
    chinese = make("zh")
    assert len(charts.LAYOUTS) == 2
    assert charts.subplot_params(chinese.fig) != charts.subplot_params(measured.fig)
    assert np.isfinite(list(charts.subplot_params(chinese.fig).values())).all()


def test_server_indicator_panels_redraw_only_the_panels_that_changed(pingyang):
    """When a line leaves its panel's range, the page's panels draw only the panels whose range changed: the same
    pixels, year after year, as drawing the whole figure, with fewer whole-figure draws."""
    from viz import charts

    columns = [c for c in charts.chart_indicators(county_columns(pingyang.config.groups)) if c != "migrant_population"]
    panels = {}
    for partial in (True, False):
        live = charts.LiveIndicators(pingyang.config.targets, columns, (2020, 2035), "baseline", width=11, cols=3)
        live.partial_redraws = partial
        draws = []
        whole = live.canvas.draw
        live.canvas.draw = lambda whole=whole, draws=draws: (draws.append(1), whole())
        panels[partial] = (live, draws)
    rows = []
    for k, year in enumerate(range(2020, 2036)):
        # lines that drift at different speeds, two of them jumping out of their ranges later in the run
        rows.append({"year": year, **{c: (8.6e5 if c == "population" else 0.45)
                                       * (1 + 0.01 * k * (j % 3) + 0.3 * (j == 4 and year >= 2027) + 0.2 * (j == 7 and year >= 2031))
                                       for j, c in enumerate(columns)}})
        county = pd.DataFrame(rows)
        assert panels[True][0].png(county, f"to {year}") == panels[False][0].png(county, f"to {year}"), year
    assert len(panels[True][1]) < len(panels[False][1]), (len(panels[True][1]), len(panels[False][1]))


def test_page_charts_are_png_files_pillow_reads_back_pixel_for_pixel():
    """viz.charts.png_bytes writes the page's charts without Pillow's row filters: the file must still decode to
    exactly the pixels drawn, at every size, and refuse what is not RGBA."""
    import io

    from PIL import Image

    from viz.charts import png_bytes

    rng = np.random.default_rng(0)
    for shape in ((1, 1, 4), (7, 3, 4), (625, 880, 4)):
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
        pixels[: shape[0] // 2] = 255  # runs that compress, beside noise that does not
        for level in (1, 9):
            back = Image.open(io.BytesIO(png_bytes(pixels, level)))
            assert back.mode == "RGBA" and back.size == (shape[1], shape[0])
            assert np.array_equal(np.asarray(back), pixels)
    with pytest.raises(ValueError, match="height x width x 4 uint8"):
        png_bytes(np.zeros((3, 3, 3), np.uint8))


def test_charts_in_chinese_have_no_english_words():
    """Every text on the indicator panels, township bars and a difference map drawn in Chinese (titles, ticks,
    legends, township names, notes) is Chinese or a number."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.text import Text

    from sim.indicators import county_columns
    from viz.charts import chart_indicators, difference_map, indicator_figure, township_bars
    from viz.words import region_labels
    from workflow.runner import cached_region

    from viz.maps import has_cjk_font

    # without one, township names fall back to pinyin and this test would list them instead of naming the cause
    assert has_cjk_font(), "no font that draws Chinese: run `bash .ci/setup-browser` (it installs fonts-wqy-microhei)"
    region = cached_region(Path("configs/pingyang"))
    columns = chart_indicators(county_columns(region.config.groups))
    rng = np.random.default_rng(0)
    county = pd.DataFrame({"year": [2020, 2021, 2020, 2021], "scenario": ["a", "a", "b", "b"],
                           **{c: rng.uniform(0.1, 0.9, 4) * (1e5 if c.endswith("population") else 1) for c in columns}})
    figures = [indicator_figure(county, ["a", "b"], region.config.targets, columns, lang="zh",
                                labels=region_labels(region.config), names={"a": "基准情景", "b": "新增岗位"})]
    pop = pd.Series({t.code: 1000.0 * (k + 1) for k, t in enumerate(region.townships)})
    figures.append(township_bars(region, pop, pop * 0.9, 2030, 2020, lang="zh"))
    for fig in figures:
        fig.canvas.draw()  # tick labels exist once drawn
        words = [w for t in fig.findobj(Text) for w in _latin(t.get_text())]
        plt.close(fig)
        assert not words, words
    diff = pd.DataFrame({"township": list(pop.index), "diff_mean": pop.values - 8000, "diff_p05": pop.values - 9000,
                         "diff_p95": pop.values - 7000})
    captured = []
    original = plt.Figure.savefig

    def keep(fig, *a, **k):
        captured.extend(w for t in fig.findobj(Text) for w in _latin(t.get_text()))
        return original(fig, *a, **k)

    plt.Figure.savefig = keep
    try:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            difference_map(region, diff, "b", "a", 2030, Path(tmp) / "d.png", lang="zh", names={"a": "基准情景", "b": "新增岗位"})
    finally:
        plt.Figure.savefig = original
    assert not captured, captured


def test_report_in_chinese_with_titles_intervals_and_lever_sentences(tmp_path):
    """``report --lang zh`` of a compare: headings, table headers and captions in Chinese, scenarios by their titles,
    the township table with the paired interval of each difference, levers as sentences."""
    import html as htmllib

    import run

    out = tmp_path / "cmp"
    assert run.main(["compare", "--region", "configs/pingyang", "--scenarios", "baseline", "jobs_10k", "--seeds", "2",
                     "--scale", "0.01", "--end", "2025", "--workers", "1", "--out", str(out)]) == 0
    assert run.main(["report", str(out), "--lang", "zh"]) == 0
    page = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert "<html lang='zh-Hans'>" in page
    for tag in ("h1", "h2", "th", "caption", "figcaption"):
        for text in re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", page, flags=re.S):
            text = re.sub(r"<[^>]+>", "", htmllib.unescape(text))
            assert not _latin(text), (tag, text)
    assert "滨海平台（海西）新增1万个岗位" in page and "基准情景（维持现状）" in page
    assert "海西镇新增第二产业岗位 10,000 个，2021-2025年" in page                         # a lever as a sentence
    cells = re.findall(r"<td class='num'>([+\-][\d,]+ \[[+\-][\d,]+, [+\-][\d,]+\]\*?)</td>", page)
    assert len(cells) >= 16, "each township's difference with its interval"
    english = (out / "report" / "report.html")
    assert run.main(["report", str(out)]) == 0                                                 # and in English
    page = english.read_text(encoding="utf-8")
    assert "10,000 new secondary-sector jobs in Haixi over 2021-2025" in page and "<html lang='en'>" in page
    assert "10,000 jobs at the Binhai platform (Haixi)" in page


def test_a_step_renders_the_page_once_and_sends_only_what_changed():
    """One render per Step (every part that shows the year, in one pass) and no widget made anew: a layout given as a
    dict, a marker made in the render or a Markdown text that changes each year would each be a new widget, sent whole."""
    import ipyvuetify as v
    import ipywidgets
    import solara

    import viz.app as app

    controls = solara.reactive(app.default_controls())
    model = solara.reactive(app.ServerModel(scale=0.005))

    @solara.component
    def Cells():
        app.RunController(model, controls)
        m = model.value
        app.RunStatus(m, controls)
        app.TownshipMap(m)
        app.IndicatorCharts(m)
        app.TownshipPopulations(m)

    box, rc = solara.render(Cells(), handle_error=False)
    step = next(b for b in rc.find(v.Btn).widgets if "migrasim-step" in (b.class_ or ""))
    step.click()  # the first year may widen the charts' ranges
    made = []
    opened = ipywidgets.Widget.open

    def record(widget):
        made.append(type(widget).__name__)
        return opened(widget)

    try:
        ipywidgets.Widget.open = record
        for year in (2022, 2023):
            renders = rc.render_count
            step.click()
            assert model.value.year == year and rc.render_count == renders + 1
    finally:
        ipywidgets.Widget.open = opened
    assert made == []
    assert any(f"Year {model.value.year}" in (w.unsafe_innerHTML or "") for w in rc.find(solara.widgets.HTML).widgets)
    rc.close()


def test_the_map_recolours_its_own_layer_and_shows_the_moves_on_demand():
    """The map's GeoJSON layers are made once per page and given new data (viz.app.use_geojson_layer): a new map
    colour recolours the same townships layer, and the moves layer joins the map when asked for and is emptied when
    hidden."""
    import ipyleaflet
    import solara

    import viz.app as app

    model = app.ServerModel(scale=0.005)
    model.step()
    box, rc = solara.render(app.TownshipMap(model), handle_error=False)

    def layers():
        return {layer.name: layer for layer in rc.find(ipyleaflet.Map).widgets[0].layers}

    def fills(layer):
        return [f["properties"]["style"]["fillColor"] for f in layer.data["features"]]

    towns = layers()["townships"]
    assert len(fills(towns)) == 16 and "moves" not in layers()
    population = fills(towns)
    try:
        app.map_indicator.value = "aged60_share"
        assert layers()["townships"] is towns and fills(towns) != population
        assert all(f["properties"]["value_text"].endswith("%") for f in towns.data["features"]), "the hover card's values follow"
        app.show_flows.value = True
        moves = layers()["moves"]
        assert moves.data["features"] and all(f["geometry"]["type"] == "MultiLineString" for f in moves.data["features"])
    finally:
        app.map_indicator.value, app.show_flows.value = "population", False
    assert "moves" not in layers() and fills(layers()["townships"]) == population
    assert moves.data["features"] == [], "a hidden moves layer keeps no data (nothing is sent for it each year)"
    rc.close()


def test_first_page_model_and_charts_are_handed_to_one_visitor_only():
    """The server builds the default page's first model and charts in advance (viz.app.warm_page): the first visitor
    with the default controls gets that model and, in English, its charts; nobody else gets either."""
    from viz import app

    app.warm_page()
    defaults = app.default_controls()
    first = app.first_model(defaults)
    second = app.first_model(defaults)
    assert first is not second and first.year == second.year == first.start
    assert first.datacollector.get_model_vars_dataframe().equals(second.datacollector.get_model_vars_dataframe())
    assert app.prepared("indicators", second, "en") is None, "another visitor's model gets no prepared chart"
    assert app.prepared("indicators", first, "zh") is None, "the prepared charts are English"
    chart = app.prepared("indicators", first, "en")
    assert chart is not None and app.prepared("indicators", first, "en") is None, "handed out once"
    county = first.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    assert chart.png(county, "County indicators to 2020")[:4] == b"\x89PNG"
    other = app.first_model({**defaults, "seed": defaults["seed"] + 1})
    assert other.seed == defaults["seed"] + 1
