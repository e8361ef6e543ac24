"""Scenarios: shipped files run, levers act from their year and not before, jobs raise population, clear errors."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import PINGYANG
from geo.network import Transport
from geo.region import RegionDataError, load_region
from toy import write_scenario
from workflow.runner import simulate
from workflow.scenarios import build_interventions, load_scenario

SHIPPED = sorted(p.stem for p in (PINGYANG / "scenarios").glob("*.yaml"))


def transport_for(region_dir: Path, scenario: str, start=2020, end=2035) -> Transport:
    region = load_region(region_dir)
    iv = build_interventions(region, load_scenario(region_dir, scenario), start, end)
    return Transport.from_region(region, iv.edges, iv.closures, iv.nodes)


def test_the_plans_scenarios_are_shipped():
    assert {"baseline", "wenfu_hsr", "s3_phase2", "roads", "platforms", "hukou_open", "talent", "plan_all"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenario_validates_cites_and_runs(name, pingyang):
    loaded = load_scenario(PINGYANG, name)
    own = [lv for lv, (path, _) in zip(loaded.levers, loaded.origins) if path.stem == name]
    assert all(lv.source for lv in own), "every shipped lever cites the plan"
    res = simulate(PINGYANG, name, scale=0.01, seed=2, region=pingyang)
    assert list(res.county.year) == list(range(2020, 2036))
    assert res.county.population.between(700_000, 1_400_000).all()
    assert res.meta["scenario"] == name and res.meta["scenario_detail"]["levers"] == [
        lv.model_dump(mode="json", by_alias=True, exclude_defaults=True) for lv in loaded.levers]


def test_plan_all_includes_every_base_once():
    loaded = load_scenario(PINGYANG, "plan_all")
    assert loaded.chain[0] == "baseline" and loaded.chain[-1] == "plan_all"
    assert len(loaded.chain) == len(set(loaded.chain))
    talent = [lv for lv in loaded.levers if lv.type == "talent"]
    assert len(talent) == 1


def test_link_lever_changes_times_from_its_year_and_not_before(toy):
    write_scenario(toy, "cx", [{"type": "add_link", "project": "cx", "year": 2026, "source": "test"}])
    write_scenario(toy, "upgrade", [{"type": "upgrade_link", "project": "bc_upgrade", "year": 2027}])
    write_scenario(toy, "close", [{"type": "close_link", "links": ["ab"], "year": 2028}])
    base, cx = transport_for(toy, "baseline"), transport_for(toy, "cx")
    t = lambda tr, y: tr.minutes(y, ["C"], ["X"])[0, 0]
    assert t(cx, 2025) == t(base, 2025)
    assert t(cx, 2026) < t(base, 2026) and t(cx, 2035) < t(base, 2035)
    up = transport_for(toy, "upgrade")
    bc = lambda tr, y: tr.minutes(y, ["B"], ["C"])[0, 0]
    assert bc(up, 2026) == bc(base, 2026) and bc(up, 2027) == pytest.approx(8 / 80 * 60)
    closed = transport_for(toy, "close")
    ab = lambda tr, y: tr.minutes(y, ["A"], ["B"])[0, 0]
    assert ab(closed, 2027) == ab(base, 2027) and ab(closed, 2028) > ab(base, 2028)


def test_a_new_station_on_a_line_is_boarded_from_its_year(toy):
    write_scenario(toy, "station", [{"type": "add_station", "year": 2030, "township": "B", "on_link": "sx",
                                     "station": {"id": "S2", "name": "New stop", "lat": 30.10, "lon": 120.03}}])
    base, st = transport_for(toy, "baseline"), transport_for(toy, "station")
    t = lambda tr, y: tr.minutes(y, ["B"], ["X"])[0, 0]
    assert t(st, 2029) == t(base, 2029)
    assert t(st, 2030) < t(base, 2030)
    # trains still run from S to X past the new stop
    assert np.isfinite(st.minutes(2030, ["A"], ["X"])[0, 0])


def test_model_is_identical_before_a_link_opens(toy):
    write_scenario(toy, "upgrade", [{"type": "upgrade_link", "project": "bc_upgrade", "year": 2026}])
    a = simulate(toy, "baseline", end=2030, seed=5).county.set_index("year")
    b = simulate(toy, "upgrade", end=2030, seed=5).county.set_index("year")
    pd.testing.assert_frame_equal(a.loc[:2025], b.loc[:2025])
    assert not a.loc[2026:].equals(b.loc[2026:])


def test_jobs_lever_raises_the_township_population_with_common_random_numbers(toy):
    write_scenario(toy, "jobs_c", [{"type": "jobs", "township": "C", "sector": "secondary", "jobs": 3000, "years": [2022, 2024]}])
    diffs = []
    for seed in range(1, 6):
        a = simulate(toy, "baseline", end=2030, seed=seed).townships
        b = simulate(toy, "jobs_c", end=2030, seed=seed).townships
        pa = a[(a.township == "C") & (a.year == 2030)].population.item()
        pb = b[(b.township == "C") & (b.year == 2030)].population.item()
        jb = b[(b.township == "C") & (b.year == 2024)].jobs.item() - a[(a.township == "C") & (a.year == 2024)].jobs.item()
        assert jb > 2400  # the lever's 3000 less what the vacancy feedback holds back
        diffs.append(pb - pa)
    assert np.mean(diffs) > 0 and sum(d > 0 for d in diffs) >= 4


def test_people_levers_act(toy):
    write_scenario(toy, "talent", [{"type": "talent", "persons_per_year": 200, "skill": "high", "years": [2022, 2025], "township": "B"}])
    write_scenario(toy, "tfr", [{"type": "fertility", "tfr": {2021: 1.2, 2023: 2.4}}])
    write_scenario(toy, "open", [{"type": "hukou", "openness": 1.0, "year": 2021},
                                 {"type": "services", "township": "C", "change": 0.3, "year": 2021},
                                 {"type": "housing", "township": "C", "part": "urban", "units": 500, "year": 2022}])
    base = simulate(toy, "baseline", end=2025, seed=3)
    tal = simulate(toy, "talent", end=2025, seed=3)
    assert tal.county.set_index("year").in_migrants.loc[2022:].sum() > base.county.set_index("year").in_migrants.loc[2022:].sum() + 500
    tfr = simulate(toy, "tfr", end=2025, seed=3)
    assert tfr.county.births[1:].sum() > base.county.births[1:].sum() * 1.3
    # the housing lever adds its units in its year (the other parts of the year are as in the baseline until then)
    write_scenario(toy, "homes", [{"type": "housing", "township": "C", "part": "urban", "units": 500, "year": 2022}])
    homes = simulate(toy, "homes", end=2025, seed=3)
    hb = base.townships.query("township == 'C' and year == 2022").housing_units.item()
    ho = homes.townships.query("township == 'C' and year == 2022").housing_units.item()
    assert ho == pytest.approx(hb + 500, rel=1e-6)
    # hukou openness grants local hukou to more long-resident migrants (sim.hukou): more conversions and a larger
    # hukou population, over paired seeds
    runs = {name: [simulate(toy, name, end=2025, seed=s).county for s in (3, 4, 5, 6)] for name in ("open", "baseline")}
    conversions = {k: sum(c.hukou_conversions.sum() for c in v) for k, v in runs.items()}
    local = {k: sum(c.hukou_population.iloc[-1] for c in v) for k, v in runs.items()}
    assert conversions["open"] > 2 * conversions["baseline"] > 0
    assert local["open"] > local["baseline"]


def error(toy, levers, name="bad", base="baseline", end=2035) -> RegionDataError:
    write_scenario(toy, name, levers, base=base)
    with pytest.raises(RegionDataError) as e:
        build_interventions(load_region(toy), load_scenario(toy, name), 2020, end)
    return e.value


def test_unknown_township(toy):
    e = error(toy, [{"type": "jobs", "township": "Zeta", "sector": "secondary", "jobs": 10, "year": 2022}])
    assert e.file.endswith("bad.yaml") and "levers[0].township" in str(e) and "unknown township 'Zeta'" in str(e) and "A Alpha" in str(e)


def test_unknown_node(toy):
    e = error(toy, [{"type": "add_link", "year": 2022, "new": [{"from": "A", "to": "Q", "mode": "trunk", "speed_kmh": 60}]}])
    assert "levers[0].new[0].to" in str(e) and "unknown node 'Q'" in str(e)


def test_unknown_project(toy):
    e = error(toy, [{"type": "add_link", "year": 2022, "project": "moon_rail"}])
    assert "unknown project 'moon_rail'" in str(e) and "cx" in str(e)


def test_year_outside_the_run(toy):
    e = error(toy, [{"type": "hukou", "openness": 0.5, "year": 2040}], end=2035)
    assert "levers[0].year" in str(e) and "outside the run 2020-2035" in str(e)
    e = error(toy, [{"type": "hukou", "openness": 0.5, "year": 2020}])
    assert "outside the run" in str(e) and "a lever acts from the first simulated year, 2021" in str(e)
    # the end that includes every lever, not only the first one found outside the run
    e = error(toy, [{"type": "hukou", "openness": 0.5, "year": 2028},
                    {"type": "jobs", "township": "B", "sector": "secondary", "jobs": 10, "years": [2030, 2033]}], end=2025)
    assert "year 2028 is outside the run 2020-2025" in str(e) and "run to --end 2033" in str(e)


def test_unknown_lever_type(toy):
    e = error(toy, [{"type": "teleport", "year": 2022}])
    assert "levers[0].type" in str(e) and "unknown lever type 'teleport'" in str(e) and "add_link" in str(e)


def test_zero_jobs_is_an_error_and_negative_jobs_are_losses(toy):
    e = error(toy, [{"type": "jobs", "township": "A", "sector": "tertiary", "jobs": 0, "year": 2022}])
    assert e.file.endswith("bad.yaml") and "jobs must not be 0" in str(e)
    write_scenario(toy, "closure", [{"type": "jobs", "township": "A", "sector": "tertiary", "jobs": -500, "year": 2022}])
    a = simulate(toy, "baseline", end=2022, seed=3).townships
    b = simulate(toy, "closure", end=2022, seed=3).townships
    ja = a[(a.township == "A") & (a.year == 2022)].jobs.item()
    jb = b[(b.township == "A") & (b.year == 2022)].jobs.item()
    assert ja - jb == pytest.approx(500, abs=1)


def test_station_area_lever_adds_jobs_and_dwellings(toy):
    write_scenario(toy, "tod", [{"type": "station_area", "township": "A", "station": "S", "jobs_tertiary": 300,
                                 "housing_units": 200, "years": [2022, 2023]}])
    a = simulate(toy, "baseline", end=2023, seed=3).townships
    b = simulate(toy, "tod", end=2023, seed=3).townships
    pick = lambda t, col, y=2023: t[(t.township == "A") & (t.year == y)][col].item()
    assert pick(b, "jobs") - pick(a, "jobs") > 250
    # the first year's units arrive exactly; builders then build a little less where the package eased the shortage
    assert pick(b, "housing_units", 2022) - pick(a, "housing_units", 2022) == pytest.approx(100, abs=1e-6)
    assert 150 < pick(b, "housing_units") - pick(a, "housing_units") <= 200 + 1e-6
    e = error(toy, [{"type": "station_area", "township": "A", "station": "NOPE", "jobs_tertiary": 1, "year": 2022}])
    assert "levers[0].station" in str(e) and "unknown node 'NOPE'" in str(e)


def test_missing_base(toy):
    e = error(toy, [], base="nosuch")
    assert e.file.endswith("bad.yaml") and e.field == "base" and "base scenario 'nosuch' does not exist" in str(e)


def test_cycle_of_bases(toy):
    write_scenario(toy, "one", [], base="two")
    write_scenario(toy, "two", [], base="one")
    with pytest.raises(RegionDataError) as e:
        load_scenario(toy, "one")
    assert "cycle" in str(e.value) and "one -> two -> one" in str(e.value)


def test_error_in_a_base_names_the_base_file(toy):
    write_scenario(toy, "parent", [{"type": "services", "township": "Nowhere", "change": 0.1, "year": 2022}])
    e = error(toy, [{"type": "hukou", "openness": 0.5, "year": 2022}], base="parent")
    assert e.file.endswith("parent.yaml") and "levers[0].township" in str(e)


def test_compare_command_writes_summary_maps_and_table(toy, tmp_path):
    import run
    from cli.commands import console

    write_scenario(toy, "jobs_c", [{"type": "jobs", "township": "C", "sector": "secondary", "jobs": 3000, "years": [2022, 2024]}])
    out = tmp_path / "cmp"
    with console.capture() as cap:
        rc = run.main(["compare", "--region", str(toy), "--scenarios", "baseline", "jobs_c", "--seeds", "3",
                       "--scale", "1.0", "--end", "2026", "--out", str(out)])
    assert rc == 0
    text = cap.get()
    assert "Scenarios compared" in text and "jobs_c" in text
    summary = pd.read_csv(out / "summary.csv")
    row = summary[(summary.scenario == "jobs_c") & (summary.indicator == "primacy") & (summary.year == 2025)].iloc[0]
    assert row.seeds == 3 and row.p05 <= row["mean"] <= row.p95 and "met" in summary.columns
    ref = summary[summary.scenario == "baseline"]
    assert (ref.diff_mean.dropna() == 0).all() and ref.diff_mean.notna().any()
    runs = pd.read_csv(out / "county_runs.csv")
    assert len(runs) == 2 * 3 * 7 and set(runs.seed) == {1, 2, 3}
    for png in ("indicators.png", "difference_jobs_c_2026.png"):
        assert (out / png).stat().st_size > 10_000
    meta = json.loads((out / "compare.json").read_text())
    assert meta["common_random_numbers"] and meta["seeds"] == [1, 2, 3] and "jobs_c" in meta["scenario_runs"]


def compare_and_report(toy, tmp_path, seeds: int) -> tuple[str, Path]:
    """compare baseline with 3,000 jobs in township C (2022-24) over ``seeds`` seeds to 2025, then report it: the
    terminal's text and the compare folder."""
    import run
    from cli.commands import console

    write_scenario(toy, "jobs_c", [{"type": "jobs", "township": "C", "sector": "secondary", "jobs": 3000, "years": [2022, 2024]}])
    out = tmp_path / "cmp"
    with console.capture() as cap:
        assert run.main(["compare", "--region", str(toy), "--scenarios", "baseline", "jobs_c", "--seeds", str(seeds),
                         "--scale", "1.0", "--end", "2025", "--out", str(out)]) == 0
        assert run.main(["report", str(out)]) == 0
    return cap.get(), out


def test_compare_with_one_seed_shows_no_interval_and_marks_nothing(toy, tmp_path):
    """One seed gives one difference, which says nothing about seed noise: no interval in the table, the summary,
    the difference map's marks or the report, and a line that says so."""
    text, out = compare_and_report(toy, tmp_path, seeds=1)
    assert "one run per scenario: no intervals" in text
    assert "Δ " in text and not re.search(r"Δ [^\n│]*\[", text), text                 # a difference, no interval
    summary = pd.read_csv(out / "summary.csv")
    jobs = summary[summary.scenario == "jobs_c"]
    assert jobs.diff_mean.notna().all() and jobs.diff_p05.isna().all() and jobs.p05.isna().all()
    report = re.sub(r"base64,[A-Za-z0-9+/=]+", "", (out / "report" / "report.html").read_text(encoding="utf-8"))
    assert "from one run each: no interval" in report and not re.search(r"\bnan\b", report, flags=re.I)


def test_beyond_seed_noise_needs_five_seeds():
    """The threshold behind "beyond seed noise": with no effect at all, the 5%-95% interval of n paired differences
    excludes 0 more than one time in five for 3 seeds and at most about one time in ten from 5 seeds."""
    from workflow.compare import MIN_PAIRS_FOR_NOISE, noise_verdict, paired_interval

    rng = np.random.default_rng(7)
    rates = {}
    for n in (3, 4, MIN_PAIRS_FOR_NOISE, 10):
        x = rng.standard_normal((20_000, n))
        lo, hi = np.percentile(x, 5, axis=1), np.percentile(x, 95, axis=1)
        rates[n] = float(((lo > 0) | (hi < 0)).mean())
    assert rates[3] > 0.2 and rates[4] > 0.1 and rates[MIN_PAIRS_FOR_NOISE] <= 0.1 and rates[10] < 0.01, rates
    assert MIN_PAIRS_FOR_NOISE == min(n for n, r in rates.items() if r <= 0.1)
    _, lo, hi = paired_interval([900.0, 1100.0, 1300.0])
    assert noise_verdict(lo, hi, 3) == "few" and noise_verdict(lo, hi, MIN_PAIRS_FOR_NOISE) == "beyond"


def test_compare_with_three_seeds_calls_nothing_beyond_seed_noise(toy, tmp_path):
    """Three seeds agree in sign one time in four with no effect: the maps hatch no township, the report stars none
    and says how often the seeds would agree by chance, and the command says so in a line."""
    text, out = compare_and_report(toy, tmp_path, seeds=3)
    assert "3 runs per scenario: the difference maps mark no township beyond seed noise" in " ".join(text.split()), text
    diff = pd.read_csv(out / "township_difference_2025.csv", dtype={"township": str})
    assert (diff.pairs == 3).all()
    c = diff[(diff.scenario == "jobs_c") & (diff.township == "C")].iloc[0]
    assert c.diff_p05 > 0  # 3,000 jobs in C: every seed agrees, and yet it is not called beyond noise
    report = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert "no star: with 3 paired runs" in report and not re.search(r"\+[\d,]+ \[[^\]]+\]\*", report)
    assert "beyond seed noise." not in report and ("as they would 1 time in 4 with no effect" in report
                                                  or "within seed noise" in report)


def test_compare_with_five_seeds_stars_what_is_beyond_seed_noise_in_the_terminal_and_the_report(toy, tmp_path):
    """From 5 seeds a difference whose interval excludes 0 is starred in the printed table (with a caption saying
    what the star means) and in the report's table of indicator differences, and one that includes 0 is not."""
    text, out = compare_and_report(toy, tmp_path, seeds=5)
    summary = pd.read_csv(out / "summary.csv")
    pop = summary[(summary.scenario == "jobs_c") & (summary.indicator == "population") & (summary.year == 2025)].iloc[0]
    assert pop.seeds == 5 and pop.diff_p05 > 0  # 3,000 jobs in C draw residents: every seed agrees
    assert "* beyond seed noise" in " ".join(text.split())
    assert re.findall(r"Δ [^\n│]*\]\*", text), text
    report = (out / "report" / "report.html").read_text(encoding="utf-8")
    table = report[report.index("Differences from"):].split("</table>")[0]
    assert "<caption>* the interval excludes 0</caption>" in table
    cells = re.findall(r"([+-][\d.,]+) \[([+-][\d.,]+), ([+-][\d.,]+)\]( pt)?(\*?)</td>", table)
    assert len(cells) >= 5
    for _, low, high, _, star in cells:  # starred exactly where the interval excludes 0
        low, high = float(low.replace(",", "")), float(high.replace(",", ""))
        assert (star == "*") == (low > 0 or high < 0), (low, high, star)
    assert any(star for *_, star in cells)


def test_add_link_names_links_of_the_projects_file(toy):
    e = error(toy, [{"type": "add_link", "links": ["cx", "ab"], "year": 2022}])
    assert "levers[0].links" in str(e) and "not planned link(s) ab" in str(e)


def test_saving_a_scenario_refuses_bad_names_overwrites_and_missing_bases(toy):
    """The page's Save: a new file that reads back with the same levers; a path as a name, an existing scenario, a text
    naming another scenario and a missing base are refused with a message naming the file, and leave nothing behind."""
    from sim.scenario import Fertility
    from workflow.scenarios import save_scenario, scenario_yaml

    lever = Fertility(type="fertility", tfr=1.5, year=2021)
    before = sorted(p.name for p in (toy / "scenarios").iterdir())
    for name, text, message in [("../evil", scenario_yaml("../evil", "", "baseline", [lever]), "letters, digits"),
                                ("baseline", scenario_yaml("baseline", "", None, [lever]), "exists already"),
                                ("other", scenario_yaml("mine", "", "baseline", [lever]), "another scenario"),
                                ("orphan", scenario_yaml("orphan", "", "nope", [lever]), "orphan.yaml, field 'base'")]:
        with pytest.raises(ValueError, match=message):
            save_scenario(toy, name, text)
    assert sorted(p.name for p in (toy / "scenarios").iterdir()) == before
    path = save_scenario(toy, "mine", scenario_yaml("mine", "TFR 1.5", "baseline", [lever]))
    assert path == toy / "scenarios" / "mine.yaml"
    assert load_scenario(toy, "mine").levers == [lever]


def test_saving_never_replaces_a_scenario_saved_meanwhile_and_a_folder_it_cannot_write_is_a_message(toy, monkeypatch):
    """Two visitors of the page may save the same name at once: the first file stays, the second save is refused. A
    scenarios folder that cannot be written is a message for the page (download instead), not an exception."""
    from pathlib import Path as P

    import workflow.scenarios as ws
    from sim.scenario import Fertility

    lever = Fertility(type="fertility", tfr=1.5, year=2021)
    first = ws.scenario_yaml("twice", "the first visitor's", "baseline", [lever])
    real_load = ws.load_scenario

    def load_then_another_visitor_saves(folder, name):     # the other visitor's file lands during the check
        loaded = real_load(folder, name)
        (P(folder) / "scenarios" / "twice.yaml").write_text(first, encoding="utf-8")
        return loaded

    monkeypatch.setattr(ws, "load_scenario", load_then_another_visitor_saves)
    with pytest.raises(ValueError, match="exists already"):
        ws.save_scenario(toy, "twice", ws.scenario_yaml("twice", "the second visitor's", "baseline", [lever]))
    monkeypatch.undo()
    assert "the first visitor's" in (toy / "scenarios" / "twice.yaml").read_text(encoding="utf-8")
    assert not [p for p in (toy / "scenarios").iterdir() if "saving" in p.name]
    elsewhere = toy.parent / "readonly"                       # a region whose scenarios "folder" is a file
    elsewhere.mkdir()
    (elsewhere / "scenarios").write_text("not a folder")
    with pytest.raises(ValueError, match="cannot write in .*download the scenario instead"):
        ws.save_scenario(elsewhere, "mine", first)
