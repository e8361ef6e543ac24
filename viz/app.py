"""The interactive page: a planner's workspace with a township map, county indicator charts and township bars.

Started by ``python run.py serve`` (which sets the region through the environment and runs ``solara run`` on this
file). The region's ``server.yaml`` says which levers the page offers; ``viz/controls.py`` turns the controls into
scenario levers, so the page runs the model exactly as ``run.py run`` would with the same levers. The page has its
own run controls (Reset, play, Step, in the page's language) and lays itself out: planner-facing controls only, in the page's language,
and a grid that fits a laptop and a desktop screen. A run's scenario can be saved into the region's scenarios folder
(or downloaded) and reopened from the scenario list, and the page's address can carry the controls
(``?scenario=jobs_10k&seed=43&lang=zh``): "Link to this run" gives the address that reproduces the run in force.

Environment:
    MIGRASIM_REGION  region folder (default ``configs/pingyang``)
    MIGRASIM_TILES   a tile URL template for a background map (default: none, the page works offline)
    MIGRASIM_SERVE_PID       set by ``run.py serve`` to its process id: the server ends when that process ends
    MIGRASIM_ASSETS_PENDING  set by ``run.py serve``, which may be fetching the browser files (a first start after
                     installing): the page waits until they are all in the cache (at once when they are already), before
                     the server listens
    MIGRASIM_CHECKED_FD      set by ``run.py serve``: a pipe on which it writes one byte once it has checked the
                     region; the page reads the region only then (serve reports a bad file itself, in one line)
"""

from __future__ import annotations

import functools
import os
import threading
import time
import warnings
from pathlib import Path
from urllib.parse import parse_qs, urlencode

from cli.startup import libraries

if os.environ.get("MIGRASIM_SERVE_PID"):  # started by run.py serve: end with it, even if it is killed
    from cli.ending import end_with_parent

    end_with_parent(int(os.environ["MIGRASIM_SERVE_PID"]))

# The page's libraries load as the command line's do (cli/startup.py): without the cycle collector's passes over the
# objects they make, and with mesa's scipy.spatial loaded only if used. The server listens 0.7 s sooner.
with libraries():
    import ipyleaflet
    import ipywidgets
    import pandas as pd
    import reacton.core
    import solara

    from sim.indicators import county_columns
    from sim.model import MigrationModel
    from sim.scenario import compile_levers
    from viz.charts import LiveIndicators, LiveTownshipBars, chart_indicators
    from viz.controls import (PAIRED_SEEDS, control_levers, load_server_config, page_memory_shortfall,
                              toggle_default_year, toggle_levers)
    from viz.maps import has_cjk_font
    from viz.mapview import (MAP_INDICATORS, flow_geojson, map_frame, mode_legend, network_geojson, outline_geojson,
                             outlying_townships, place_labels, short_name, township_card, township_geojson, township_labels)
    from workflow.compare import agreement_odds, noise_verdict, paired_interval
    from workflow.io import load_params
    from workflow.runner import cached_region
    from viz.words import in_language, noise_phrase, region_labels, scenario_description, scenario_title, word
    from workflow.scenarios import (check_parameter_levers, load_scenario, save_scenario, scenario_file,
                                    scenario_yaml)

# Solara warns, at the first page opened at an address other than "localhost" (run.py serve prints 127.0.0.1), that
# its session cookie cannot be SameSite=None without https, which matters only to a page embedded in an iframe of
# another site; this one is not, and the 12 lines would be the planner's first sight in the terminal.
warnings.filterwarnings("ignore", message="Cookies with samesite=none require https", category=UserWarning)

# Mesa's control panel builds its sliders with solara's default, which shows a slider's value only while it is
# dragged; the planner should always see what a control is set to.
if not isinstance(solara.SliderFloat, functools.partial):
    solara.SliderFloat = functools.partial(solara.SliderFloat, thumb_label="always")
    solara.SliderInt = functools.partial(solara.SliderInt, thumb_label="always")

if os.environ.get("MIGRASIM_ASSETS_PENDING"):  # run.py serve is fetching the browser files while this loads
    from viz.assets import wait_for_assets

    wait_for_assets()

if os.environ.get("MIGRASIM_CHECKED_FD"):  # run.py serve is checking the region while this loads
    checked = os.read(int(os.environ["MIGRASIM_CHECKED_FD"]), 1)
    if checked != b"1":  # serve ended without a verdict: it is gone, and so should this server be
        os._exit(1)
    del os.environ["MIGRASIM_CHECKED_FD"]  # read once: the byte is consumed

REGION_DIR = Path(os.environ.get("MIGRASIM_REGION", "configs/pingyang"))
TILES = os.environ.get("MIGRASIM_TILES", "")

if not has_cjk_font():  # the page offers Chinese to everyone; its map and text are the browser's, its charts are not
    import sys

    sys.stderr.write("warning: no font that draws Chinese is installed: in Chinese, the page's charts will show boxes "
                     "(Debian: apt-get install fonts-noto-cjk)\n")

region = cached_region(REGION_DIR)
params = load_params(REGION_DIR)
server = load_server_config(REGION_DIR, region)

# The year counter every part of the page that shows the year reads (as mesa.visualization.utils has it; importing
# that package also imports Mesa's Altair and matplotlib space drawing, 1.2 s of the server's start).
update_counter = solara.reactive(0)


def force_update() -> None:
    """Redraw every part of the page that reads ``update_counter``."""
    update_counter.value += 1


def _scenario_files() -> list[Path]:
    return sorted(p for p in (REGION_DIR / "scenarios").glob("*.yaml") if not p.name.startswith("."))


def scenario_names() -> list[str]:
    """The region's scenarios now (a scenario saved from the page appears at once)."""
    return [p.stem for p in _scenario_files()]


def scenario_titles(language: str) -> dict[str, str]:
    """What the scenario list shows for each scenario: its title in ``language`` (its name if it has none), with the
    name in brackets where two titles would read alike. Read again only when a scenario file changes (the page asks
    for the titles several times a redraw; reading every file took about 55 ms)."""
    return _scenario_titles(language, tuple((p.stem, p.stat().st_mtime_ns) for p in _scenario_files()))


@functools.lru_cache(maxsize=8)
def _scenario_titles(language: str, files: tuple[tuple[str, int], ...]) -> dict[str, str]:
    titles = {}
    for name, _ in files:
        try:
            titles[name] = scenario_title(load_scenario(REGION_DIR, name).to_dict(), language)
        except Exception:  # a broken file still appears by name; choosing it shows its error on Reset
            titles[name] = name
    seen = list(titles.values())
    return {k: (f"{v} ({k})" if seen.count(v) > 1 else v) for k, v in titles.items()}


def toggle_first_year(toggle) -> int | None:
    """The year a toggle's own levers first act, as its scenario file says. Read again only when the file changes
    (the status panel asks for the controls' defaults every year: reading the files took about 10 ms a step)."""
    path = scenario_file(REGION_DIR, toggle.scenario)
    return _toggle_first_year(toggle.key, str(path), path.stat().st_mtime_ns if path.exists() else None)


@functools.lru_cache(maxsize=64)
def _toggle_first_year(key: str, path: str, mtime: int | None) -> int | None:
    toggle = next(t for t in server.toggles if t.key == key)
    return toggle_default_year(toggle_levers(REGION_DIR, toggle, None))


# population, primacy, each township group's share, urbanisation, ageing, dependency and higher education (the
# migrants and the registered population are in the report's and compare's charts)
CHART_INDICATORS = [c for c in chart_indicators(county_columns(region.config.groups))
                    if c not in ("migrant_population", "registered_population")]
COLUMN_LABELS = region_labels(region.config)

# The first page waits for this: the server builds the default page's first model and draws its charts once in the
# background (warm_page) while the first browser loads the page's scripts, and matplotlib is not to be used from two
# threads at once.
CHARTS_WARM = threading.Event()
_FIRST: dict = {}  # what warm_page made, for the first visitor who opens the page with the default controls
_FIRST_LOCK = threading.Lock()


def warm_page() -> None:
    """Build the default page's first model and draw its indicator panels and township bars, for the first visitor
    with the default controls (:func:`first_model`, :func:`prepared`): the model and the first drawing of the charts
    (matplotlib's first figure, the panels' layout) took 1.2-1.5 s of the first page, and the map's polygons in
    longitude and latitude (kept per region) 0.4 s. What it cannot make, the page makes itself."""
    try:
        controls = default_controls()
        model = ServerModel(**controls)
        county = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
        indicators = LiveIndicators(region.config.targets, CHART_INDICATORS, (model.start, model.end),
                                    scenario_title(model.scenario_detail, "en"), width=11, cols=3, lang="en",
                                    labels=COLUMN_LABELS)
        indicators.png(county, word("county indicators to", "en", year=model.year))
        start = pd.Series({r["township"]: r["population"] for r in model.township_records if r["year"] == model.start})
        bars = LiveTownshipBars(region, start, model.start, lang="en")
        bars.png(pd.Series({t.code: t.population for t in model.townships}), model.year)
        township_geojson(model, region, "population")  # the polygons in longitude/latitude, kept per region
        outline_geojson(region)
        with _FIRST_LOCK:
            _FIRST.update(controls=controls, model=model, charts={"indicators": indicators, "bars": bars})
    except Exception:  # the page builds and draws for itself, and reports what fails there
        pass
    finally:
        CHARTS_WARM.set()


def first_model(controls: dict) -> ServerModel:
    """The model a visitor's page starts with: the one :func:`warm_page` built if the controls are the defaults and
    no other visitor has taken it, else a new one (a model is never shared between visitors)."""
    CHARTS_WARM.wait(30)
    with _FIRST_LOCK:
        if "model" in _FIRST and _FIRST["controls"] == controls:
            _FIRST["owner"] = _FIRST.pop("model")  # its charts go to its page only
            return _FIRST["owner"]
    return ServerModel(**controls)


def prepared(kind: str, model: MigrationModel, language: str):
    """The chart ``kind`` ("indicators" or "bars") :func:`warm_page` drew for ``model``, once, if the page shows it in
    English; else None."""
    CHARTS_WARM.wait(30)
    with _FIRST_LOCK:
        if language != "en" or _FIRST.get("owner") is not model:
            return None
        chart = _FIRST["charts"].pop(kind, None)
        if not _FIRST["charts"]:  # both handed out: keep no reference to the visitor's model
            _FIRST.clear()
        return chart



# The effect of the levers on the page, as everywhere in this project (workflow.compare.paired_interval): the mean of the
# paired differences (levers minus baseline, same seed) and their 90% interval over the seeds. Points of a share
# (primacy, urbanisation, higher education) are percentage points.
EFFECT_INDICATORS = [("population", "residents", "常住人口", 1.0, "{:+,.0f}", ""),
                     ("primacy", "primacy", "首位度", 100.0, "{:+.2f}", " pp"),
                     ("urbanisation", "urbanisation", "城镇化率", 100.0, "{:+.2f}", " pp"),
                     ("registered_population", "registered (hukou) population", "户籍总人口", 1.0, "{:+,.0f}", ""),
                     ("higher_education_20_59", "higher education, ages 20-59", "劳动年龄人口高等教育比例", 100.0,
                      "{:+.2f}", " pp")]


def effect_text(diffs: list[float], label: str, fmt: str = "{:+,.0f}", unit: str = "", lang: str = "en") -> str:
    """One indicator's effect: mean of the paired differences and its 90% interval, and what that says about seed
    noise (:func:`workflow.compare.noise_verdict`: with the page's 3 seeds, an interval that excludes zero is
    reported as the seeds agreeing, not as an effect beyond noise).

    >>> effect_text([1200.0, 800.0, 1500.0], "residents")
    'residents +1,167 (90% interval +840 to +1,470; 3 seeds): all 3 seeds agree in sign, as they would 1 time in 4 with no effect'
    >>> effect_text([0.3, -0.5, 0.9], "首位度", "{:+.2f}", " pp", lang="zh")
    '首位度 +0.23 个百分点（90% 区间 -0.42 至 +0.84；3 个种子）：在随机波动范围内'
    """
    mean, lo, hi = paired_interval(diffs)
    verdict = noise_phrase(noise_verdict(lo, hi, len(diffs)), len(diffs), agreement_odds(len(diffs)), lang)
    if lang == "zh":
        unit = " 个百分点" if unit.strip() == "pp" else unit
        return f"{label} {fmt.format(mean)}{unit}（90% 区间 {fmt.format(lo)} 至 {fmt.format(hi)}；{len(diffs)} 个种子）：{verdict}"
    return f"{label} {fmt.format(mean)}{unit} (90% interval {fmt.format(lo)} to {fmt.format(hi)}; {len(diffs)} seeds): {verdict}"


class ServerModel(MigrationModel):
    """The model built from the page's controls; the page builds a new one with these keywords on Reset.

    Parameters
    ----------
    scenario_name : a scenario of the region (its levers, bases included).
    seed, scale : as for :class:`sim.model.MigrationModel`.
    **controls : the values of the region's other controls (toggles, jobs platform, hukou, TFR), see
        :func:`viz.controls.control_levers`.
    """

    def __init__(self, scenario_name: str = "baseline", seed: int = server.seed, scale: float = server.scale,
                 **controls):
        controls.pop("scenario", None)  # Mesa passes its own Scenario object on Reset; ours is scenario_name
        short = page_memory_shortfall(region, server.start, float(scale))
        if short:  # the scale slider goes beyond server.yaml's scale, which serve checked
            raise ValueError(short)
        loaded = load_scenario(REGION_DIR, scenario_name)
        check_parameter_levers(loaded, params, region)  # a bad parameter lever is named on Reset, not in its year
        self.control_levers, self.lever_lines = control_levers(REGION_DIR, server, params, loaded, controls)
        self.lever_lines_zh = control_levers(REGION_DIR, server, params, loaded, controls, lang="zh")[1]
        interventions = compile_levers([*loaded.levers, *self.control_levers], region, server.start, server.end)
        super().__init__(region, params=params, start=server.start, end=server.end, scale=float(scale),
                         seed=int(seed), interventions=interventions)
        self.scenario_name = scenario_name
        self.scenario_detail = {"name": loaded.name, "title": loaded.title, "title_zh": loaded.title_zh,
                                "description": loaded.description, "description_zh": loaded.description_zh}
        self.controls = {"scenario": scenario_name, **controls, "seed": int(seed), "scale": float(scale)}
        # With levers, the page also runs the baseline with this seed and the next ones (and the levers with the next
        # ones), so it can show the levers' effect as paired differences and say whether they exceed seed noise.
        self.pairs: list[tuple[MigrationModel, MigrationModel]] = []
        if self.has_levers:
            base = compile_levers(list(load_scenario(REGION_DIR, "baseline").levers), region, server.start, server.end)
            for k in range(PAIRED_SEEDS):
                s = int(seed) + k
                kw = dict(params=params, start=server.start, end=server.end, scale=float(scale), seed=s)
                lever = self if k == 0 else MigrationModel(region, interventions=interventions, **kw)
                self.pairs.append((lever, MigrationModel(region, interventions=base, **kw)))

    @property
    def has_levers(self) -> bool:
        """True when this run differs from the baseline (a scenario other than the baseline, or control levers)."""
        return bool(self.control_levers) or self.scenario_name != "baseline"

    def paired_differences(self, column: str = "population") -> list[float]:
        """This year's ``column`` with the levers minus without, one value per seed (empty without levers)."""
        return [lever.current[column] - base.current[column] for lever, base in self.pairs]

    def township_differences(self, code: str) -> list[float]:
        """This year's residents of township ``code`` with the levers minus without, one value per seed."""
        i = self.codes.index(code)
        return [lever.townships[i].population - base.townships[i].population for lever, base in self.pairs]

    def step(self) -> None:
        # Mesa's Step button does not check ``running``; at the end year a click does nothing (the model refuses
        # to go past its end year).
        if self.year >= self.end:
            self.running = False
            return
        super().step()
        for lever, base in self.pairs:
            if lever is not self:
                lever.step()
            base.step()


def run_title(model, language: str = "en") -> str:
    """What this run is, in words: the scenario's title and whether the controls add levers (a run with levers is
    never called the baseline).

    >>> class M: scenario_name, control_levers = "baseline", []
    >>> run_title(M()), run_title(M(), "zh")
    ('baseline (no levers)', '基准情景（无政策变化）')
    >>> M.control_levers = [object()]; run_title(M())
    'baseline + levers from the controls'
    >>> M.scenario_name, M.scenario_detail = "jobs_10k", {"name": "jobs_10k", "title_zh": "海西新增1万个岗位"}
    >>> run_title(M(), "zh")
    '情景“海西新增1万个岗位”＋控件政策'
    """
    name, extra = getattr(model, "scenario_name", "baseline"), bool(getattr(model, "control_levers", []))
    title = scenario_title(getattr(model, "scenario_detail", None) or {"name": name}, language)
    if language == "zh":
        own = "基准情景" if name == "baseline" else f"情景“{title}”"
        return own + ("＋控件政策" if extra else "（无政策变化）" if name == "baseline" else "")
    own = "baseline" if name == "baseline" else title
    return own + (" + levers from the controls" if extra else " (no levers)" if name == "baseline" else "")


def saved_scenario_text(model, name: str, description: str, title: str = "", language: str = "en") -> str:
    """The scenario file that reproduces ``model``'s run: its scenario as the base, the controls' levers as its own,
    ``title`` (``title_zh`` when the page is in Chinese) and, in a comment, the command that compares it with the
    baseline at the page's seeds and scale."""
    header = (f"Saved from the migrasim page ({region.config.name}).\n"
              f"Reopen it in the page's scenario list, or compare it with the baseline as the page did:\n"
              f"  python run.py compare --region {REGION_DIR} --scenarios baseline {name} --seeds {PAIRED_SEEDS} "
              f"--first-seed {model.seed} --scale {model.scale:g} --start {model.start} --end {model.end} --out runs/{name}")
    lines = "; ".join(model.lever_lines) or "no levers beyond its base"
    titles = {"title_zh" if language == "zh" else "title": title.strip()}
    return scenario_yaml(name, description or f"{run_title(model)}: {lines}", model.scenario_name, model.control_levers,
                         header, titles=titles)


def controls_query(controls: dict, defaults: dict) -> str:
    """The page address's query that reproduces ``controls``: the values that differ from ``defaults`` (the scenario
    as ``scenario``; switches as 1 or 0).

    >>> controls_query({"scenario_name": "jobs_10k", "tfr": 1.5, "seed": 42}, {"scenario_name": "baseline", "tfr": 1.27, "seed": 42})
    'scenario=jobs_10k&tfr=1.5'
    """
    out = {}
    for key, value in controls.items():
        if key in defaults and defaults[key] == value:
            continue
        out["scenario" if key == "scenario_name" else key] = (int(value) if isinstance(value, bool)
                                                              else f"{value:g}" if isinstance(value, float) else value)
    return urlencode(out)


def _query_value(raw: str, kind: str, spec: dict):
    """One query value as its control's type, or None if the control would not accept it."""
    if kind == "Select":
        return raw if raw in spec["values"] else None
    if kind == "Checkbox":
        return {"1": True, "true": True, "on": True, "0": False, "false": False, "off": False}.get(raw.lower())
    try:
        number = int(raw) if kind == "SliderInt" else float(raw)
    except ValueError:
        return None
    return number if spec["min"] <= number <= spec["max"] else None


def controls_from_query(search: str | None, specs: dict, language: str = "en") -> tuple[dict, list[str]]:
    """The control values an address's query sets (``specs``: :func:`model_params`), and what could not be used.

    Every value is checked as the control would check it (a scenario of the list, a number in the slider's range, a
    switch 1/0); a value that fails is left at its default and named in the second list.

    >>> specs = {"scenario_name": {"type": "Select", "values": ["baseline", "jobs_10k"]},
    ...          "seed": {"type": "SliderInt", "min": 1, "max": 100}, "on": {"type": "Checkbox"}}
    >>> controls_from_query("scenario=jobs_10k&seed=7&on=1&lang=zh", specs)
    ({'scenario_name': 'jobs_10k', 'seed': 7, 'on': True}, [])
    >>> controls_from_query("seed=500&colour=red", specs)[1]
    ['seed=500 (expected a whole number from 1 to 100)', 'colour (not a control of this page)']
    >>> controls_from_query("seed=x", specs, "zh")[1]
    ['seed=x（应为1 至 100 的整数）']
    """
    values: dict = {}
    problems: list[str] = []
    for key, items in parse_qs(search or "", keep_blank_values=True).items():
        raw = items[-1]
        name = "scenario_name" if key == "scenario" else key
        if key == "lang":
            continue
        spec = specs.get(name)
        if spec is None:
            problems.append(f"{key}（不是本页面的控件）" if language == "zh" else f"{key} (not a control of this page)")
            continue
        kind = spec["type"]
        zh = language == "zh"
        if kind == "Select":
            expected = ("、".join(map(str, spec["values"])) + " 之一") if zh else "one of " + ", ".join(map(str, spec["values"]))
        elif kind == "Checkbox":
            expected = "1 或 0" if zh else "1 or 0"
        elif zh:
            expected = f"{spec['min']} 至 {spec['max']} 的{'整数' if kind == 'SliderInt' else '数'}"
        else:
            expected = f"{'a whole number' if kind == 'SliderInt' else 'a number'} from {spec['min']} to {spec['max']}"
        value = _query_value(raw, kind, spec)
        if value is None:
            problems.append(f"{key}={raw}（应为{expected}）" if zh else f"{key}={raw} (expected {expected})")
        else:
            values[name] = value
    return values, problems


def model_params() -> dict:
    """The page's controls (type, default value, range, label in the page's language), from the region's server.yaml
    and params.yaml."""
    out: dict = {
        "scenario_name": {"type": "Select", "value": "baseline", "values": scenario_names(), "label": T("Scenario", "情景"),
                          "shown": scenario_titles(lang.value)},
    }
    for t in server.toggles:
        first = toggle_first_year(t) or server.start + 1
        out[t.key] = {"type": "Checkbox", "value": t.checked, "label": in_language(t.label, lang.value)}
        out[f"{t.key}_year"] = {"type": "SliderInt", "value": first, "min": server.start + 1, "max": server.end,
                                "step": 1, "label": T("  opening", "  开通年份")}
    if server.jobs.platforms:
        out["platform"] = {"type": "Select", "value": server.jobs.platforms[0].name,
                           "values": [p.name for p in server.jobs.platforms], "label": T("Jobs platform", "就业平台"),
                           "shown": {p.name: in_language(p.name, lang.value) for p in server.jobs.platforms}}
        out["platform_jobs"] = {"type": "SliderInt", "value": 0, "min": 0, "max": server.jobs.max,
                                "step": server.jobs.step,
                                "label": T("  new jobs", "  新增岗位") + f" {server.start + 1}-{server.start + server.jobs.build_years}"}
    if server.hukou is not None:
        out["hukou_openness"] = {"type": "SliderFloat", "value": params.moves.hukou_openness, "min": 0.0, "max": 1.0,
                                 "step": 0.01, "label": T("hukou openness", "户籍开放") + f" {server.hukou.year}-"}
    # steps of 0.01 from 0.50: every TFR with two decimals, the region's own (e.g. 1.27) included, is on the grid,
    # so an untouched slider gives exactly the region's value
    out["tfr"] = {"type": "SliderFloat", "value": params.demography.tfr, "min": 0.5, "max": 2.1, "step": 0.01,
                  # a short label: a long one took the whole row and left the slider's track 0 px wide (unusable
                  # by mouse); what the slider replaces is said in the status panel's "Controls in force"
                  "label": T("TFR", "生育率") + f" {server.start + 1}-"}
    # the sliders' ranges hold server.yaml's values, which may lie beyond the usual ones
    out["seed"] = {"type": "SliderInt", "value": server.seed, "min": min(1, server.seed), "max": max(100, server.seed),
                   "step": 1, "label": T("Seed", "随机种子")}
    out["scale"] = {"type": "SliderFloat", "value": server.scale, "min": min(0.01, server.scale), "max": max(0.2, server.scale), "step": 0.01,
                    "label": T("Scale", "抽样比例")}
    return out


map_indicator = solara.reactive("population")
selected_township = solara.reactive(None)
show_flows = solara.reactive(False)
# the page's language: English or Chinese (run.py serve --lang zh starts in Chinese; the 中文 switch changes it)
lang = solara.reactive("zh" if os.environ.get("MIGRASIM_LANG", "en") == "zh" else "en")


def T(en: str, zh: str) -> str:
    """The text in the page's language."""
    return zh if lang.value == "zh" else en


# The main map frames the townships that lie together; townships far from all others (islands) get an inset.
MAP_HEIGHT_PX, MAP_MIN_WIDTH_PX = 500, 440
CENTRE, ZOOM = map_frame(region, MAP_MIN_WIDTH_PX, MAP_HEIGHT_PX)
OUTLYING = outlying_townships(region)
INSET = map_frame(region, 150, 150, codes=OUTLYING) if OUTLYING else None
# where each township's name goes at the map's first zoom: no two names overlap
LABELS = [(t["code"], t["lat"], t["lon"], short_name(t["name_zh"])) for t in township_labels(region)]
LABEL_OFFSETS = place_labels([p for p in LABELS if p[0] not in OUTLYING], ZOOM)


UNIT_ZH = {"persons": "人", "jobs": "个岗位", "index": "指数", "%": "%"}
MODE_ZH = {"motorway": "高速公路", "trunk": "国道", "provincial": "省道", "local": "县乡道", "ferry": "轮渡",
           "rail": "铁路", "hsr": "高铁", "metro_rail": "市域铁路"}


def _label_marker(code: str, lat: float, lon: float, text: str, offset=(0.0, 0.0)) -> ipyleaflet.Marker:
    dx, dy = offset
    html = (f'<span class="migrasim-label" data-code="{code}" '
            f'style="transform:translate(calc(-50% + {dx:.0f}px), calc(-50% + {dy:.0f}px))">{text}</span>')
    return ipyleaflet.Marker(location=(lat, lon), draggable=False, keyboard=False,
                             icon=ipyleaflet.DivIcon(html=html, icon_size=[0, 0], icon_anchor=[0, 0]))


def pending_changes(model: MigrationModel, recorded: dict) -> list[tuple[str, object, object]]:
    """Controls changed on the page but not yet in force: (name, value in force, new value).

    >>> class M: controls = {"scenario": "baseline", "tfr": 1.27}
    >>> pending_changes(M(), {"tfr": 1.5, "scenario_name": "baseline"})
    [('tfr', 1.27, 1.5)]
    """
    controls = getattr(model, "controls", {})
    out = []
    for name, value in recorded.items():
        key = "scenario" if name == "scenario_name" else name
        if key in controls and controls[key] != value:
            out.append((key, controls[key], value))
    return out


NO_FEATURES = {"type": "FeatureCollection", "features": []}


def use_geojson_layer(data: dict, **traits) -> ipyleaflet.GeoJSON:
    """A GeoJSON layer made once for the component that calls this, and given ``data`` whenever it is a new object.

    A widget, not an element, because reacton searches every element's arguments for elements at each container
    the element sits in: for a layer given as an element, every coordinate pair of every township's outline, at each
    of the five containers around the map, about 25 ms of a step's 0.15 s (measured). A widget's data is not searched.

    Parameters
    ----------
    data : a GeoJSON FeatureCollection; the layer is sent again only when this is a different object from the last.
    traits : the layer's other settings (name, hover_style), fixed when it is made.

    Returns
    -------
    The layer, to be put among a map element's ``layers``.

    Example (inside a component)::

        towns = use_geojson_layer(township_geojson(model, region, "population")[0], name="townships")
    """
    layer = solara.use_memo(lambda: ipyleaflet.GeoJSON(data=data, **traits), dependencies=[])
    solara.use_effect(lambda: layer.close, [])  # closed with the page, as the widgets of elements are
    if layer.data is not data:  # the same object again (the network between openings): nothing to send
        layer.data = data
    return layer


@solara.component
def TownshipMap(model: MigrationModel):
    """Townships coloured by the chosen indicator, the network over them (dashed: opens later), a legend and a card."""
    update_counter.get()
    indicator = map_indicator.value
    towns, legend = township_geojson(model, region, indicator, selected_township.value)
    network = network_geojson(model)

    def on_feature(feature=None, **_):
        if feature and "code" in feature.get("properties", {}):
            selected_township.value = feature["properties"]["code"]

    layers = [ipyleaflet.TileLayer.element(url=TILES)] if TILES else []
    towns_layer = use_geojson_layer(towns, hover_style={"fillOpacity": 0.95, "weight": 2.5}, name="townships")
    layers += [towns_layer, use_geojson_layer(outline_geojson(region), name="outline"),
               use_geojson_layer(network, name="network")]
    flows, biggest = flow_geojson(model, top=12)
    shown = show_flows.value and bool(flows["features"])
    # made whether shown or not (a hook is called every render); hidden, it keeps one empty collection, sent once
    flows_layer = use_geojson_layer(flows if shown else NO_FEATURES, name="moves")
    if shown:
        layers.append(flows_layer)
    # township names at their seats, moved apart where they would overlap (text only: the page stays offline)
    labels = solara.use_memo(lambda: [_label_marker(code, lat, lon, text, LABEL_OFFSETS[code])
                                      for code, lat, lon, text in LABELS if code not in OUTLYING], dependencies=[])
    layers.append(ipyleaflet.LayerGroup.element(layers=labels, name="names"))

    def attach_handlers():
        towns_layer.on_hover(on_feature)
        towns_layer.on_click(on_feature)
        return lambda: (towns_layer.on_hover(on_feature, remove=True), towns_layer.on_click(on_feature, remove=True))

    solara.use_effect(attach_handlers, [])

    # made once: a layout given as a dict, or a marker made in the render, is a new widget (sent whole) every year
    map_layouts = solara.use_memo(lambda: (ipywidgets.Layout(height=f"{MAP_HEIGHT_PX}px"),
                                           ipywidgets.Layout(height="150px", width="150px")), dependencies=[])
    inset_labels = solara.use_memo(lambda: [_label_marker(code, lat, lon, text) for code, lat, lon, text in LABELS
                                            if code in OUTLYING], dependencies=[])
    # INSET is the region's, fixed for the process: the hook is called at every render or at none
    inset_layer = use_geojson_layer({"type": "FeatureCollection", "features": [
        f for f in towns["features"] if f["properties"].get("code") in OUTLYING]}, name="inset") if INSET is not None else None
    spec = MAP_INDICATORS[indicator]
    # the network lines are drawn over the townships; let the pointer pass through them to the township below
    solara.Style(".migrasim-map .leaflet-overlay-pane path[fill='none'] {pointer-events: none;} "
                 ".migrasim-label {display:inline-block; transform:translate(-50%,-50%); font-size:11px; font-weight:600; "
                 "color:#222; white-space:nowrap; text-shadow:0 0 2px #fff,0 0 2px #fff,0 0 3px #fff; pointer-events:none;} "
                 ".leaflet-div-icon {background:none; border:none;} "
                 ".migrasim-inset {position:absolute; right:8px; bottom:8px; z-index:1000; border:1px solid #555; "
                 "box-shadow:0 1px 4px rgba(0,0,0,.3); background:#eee;} .migrasim-inset .leaflet-container {background:#eee;}")
    with solara.Column(classes=["migrasim-map"]):
        with solara.Row():
            by_label = {s.text(lang.value): key for key, s in MAP_INDICATORS.items()}
            solara.Select(label=T("Map colour", "地图着色"), value=spec.text(lang.value), values=list(by_label),
                          on_value=lambda label: map_indicator.set(by_label[label]), style={"max-width": "260px"})
            solara.Checkbox(label=T("moves this year", "本年迁移流"), value=show_flows)
            # HTML, not Markdown, for what changes every year: solara makes a new Markdown widget for every new text
            solara.HTML(tag="span", unsafe_innerHTML=f"<b>{model.year}</b> · {spec.text(lang.value)} "
                        f"({T(spec.unit, UNIT_ZH.get(spec.unit, spec.unit))})")
        # the township card sits beside the map where the cell is wide, below it where it is not
        with solara.Row(style={"align-items": "flex-start", "flex-wrap": "wrap"}):
            with solara.Column(style={"flex": "1 1 380px", "min-width": "380px", "max-width": "640px"}):
                with solara.Div(style={"position": "relative"}):
                    ipyleaflet.Map.element(center=CENTRE, zoom=ZOOM, zoom_snap=0.25, layers=layers, scroll_wheel_zoom=True,
                                           attribution_control=False, layout=map_layouts[0])
                    if INSET is not None:  # the outlying townships (islands), in a corner
                        with solara.Div(classes=["migrasim-inset"]):
                            ipyleaflet.Map.element(
                                center=INSET[0], zoom=INSET[1], zoom_control=False, dragging=False, scroll_wheel_zoom=False,
                                double_click_zoom=False, attribution_control=False, layout=map_layouts[1],
                                layers=[inset_layer,
                                        ipyleaflet.LayerGroup.element(layers=inset_labels, name="inset names")])
                swatches = "".join(f'<span style="display:inline-block;width:14px;height:14px;background:{c};'
                                   f'border:1px solid #777;margin:0 4px 0 10px;vertical-align:middle"></span>{label}'
                                   for label, c in legend)
                modes = "".join(f'<span style="border-top:3px solid {c};display:inline-block;width:22px;'
                                f'vertical-align:middle;margin:0 4px 0 10px"></span>{T(m, MODE_ZH.get(m, m))}'
                                for m, c in mode_legend(model))
                moves = ('<span style="border-top:4px solid #1a5276;display:inline-block;width:22px;vertical-align:middle;'
                         'margin:0 4px 0 10px"></span>' + T(f"moves between townships this year (largest 12; widest {biggest:,.0f} persons)",
                                                          f"本年乡镇间迁移（前12条，最大 {biggest:,.0f} 人）")
                         if shown else "")
                solara.HTML(tag="div", unsafe_innerHTML=(
                    f'<div class="migrasim-legend">{swatches} &nbsp; <span style="border-top:3px dashed #8e44ad;'
                    f'display:inline-block;width:26px;vertical-align:middle"></span> {T("opens later in the run", "规划期内开通")}</div>'
                    f'<div class="migrasim-legend-network" style="font-size:12px;margin-top:4px">{T("network", "交通网络")}{T(": ", "：")}{modes}{moves}</div>'))
            with solara.Column(style={"flex": "1 0 250px", "max-width": "420px"}):
                if selected_township.value:
                    rows = township_card(model, region, selected_township.value, lang.value)
                    if getattr(model, "pairs", None) and model.year > model.start:
                        diffs = model.township_differences(selected_township.value)
                        rows.append((T("Effect of this run on residents", "本次运行对常住人口的效应"),
                                     effect_text(diffs, "", lang=lang.value).strip()))
                    table = "".join(f"<tr><th style='text-align:left;padding-right:10px;font-weight:500'>{k}</th>"
                                    f"<td style='text-align:right'>{v}</td></tr>" for k, v in rows)
                    solara.HTML(tag="div", unsafe_innerHTML=f'<table class="migrasim-card" style="font-size:13px">{table}</table>')
                else:
                    solara.Text(T("Point at or click a township for its figures.", "指向或点击乡镇查看其指标。"))


@solara.component
def IndicatorCharts(model: MigrationModel):
    """County indicators so far, the plan's targets marked, over the whole run's years."""
    update_counter.get()
    # three panels a row: legible when the picture is scaled into a third of a desktop screen
    live = solara.use_memo(lambda: prepared("indicators", model, lang.value) or LiveIndicators(
        region.config.targets, CHART_INDICATORS, (model.start, model.end),
        scenario_title(getattr(model, "scenario_detail", None) or {"name": "run"}, lang.value),
        width=11, cols=3, lang=lang.value, labels=COLUMN_LABELS), dependencies=[id(model), lang.value])
    county = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    solara.Image(live.png(county, word("county indicators to", lang.value, year=model.year)),
                 classes=["migrasim-indicators"])


@solara.component
def TownshipPopulations(model: MigrationModel):
    """Township populations now, with the start year marked."""
    update_counter.get()
    start = pd.Series({r["township"]: r["population"] for r in model.township_records if r["year"] == model.start})
    live = solara.use_memo(lambda: prepared("bars", model, lang.value) or LiveTownshipBars(region, start, model.start,
                                                                                             lang=lang.value),
                           dependencies=[id(model), lang.value])
    current = pd.Series({t.code: t.population for t in model.townships})
    solara.Image(live.png(current, model.year), classes=["migrasim-bars"])


@solara.component
def RunStatus(model: MigrationModel, controls: solara.Reactive[dict]):
    """The year, what this run is (scenario and levers in words), the controls waiting for Reset, the county's
    headline figures and the levers' effect against the baseline."""
    update_counter.get()
    c = model.current
    zh = lang.value == "zh"
    lever_lines = getattr(model, "lever_lines_zh" if zh else "lever_lines", [])
    lines = [f"- {line}" for line in lever_lines] or [T("- no levers from the controls", "- 未启用控件政策")]
    primacy = f" · {T('primacy', '首位度')} {c['primacy']:.1%}" if "primacy" in c else ""
    tag = f"{region.config.name.replace(' ', '_')}_{getattr(model, 'scenario_name', 'run')}_seed{model.seed}_{model.year}"
    # HTML, not Markdown, for what changes every year: solara makes a new Markdown widget (and sends it whole) for
    # every new text, where an HTML element only sends its new text
    solara.HTML(tag="h3", unsafe_innerHTML=f"{T('Year', '年份')} {model.year}", classes=["migrasim-year"])
    solara.HTML(tag="p", unsafe_innerHTML=f'<b>{T("This run", "本次运行")}</b>{T(": ", "：")}{run_title(model, lang.value)}',
                classes=["migrasim-run"])
    with solara.Row(style={"flex-wrap": "wrap", "gap": "4px", "align-items": "center"}):
        solara.Checkbox(label="中文", value=zh, on_value=lambda on: lang.set("zh" if on else "en"))
        solara.FileDownload(lambda: model_table(model, "county").to_csv(index=False).encode("utf-8"),
                            filename=f"county_{tag}.csv", label="county.csv")
        solara.FileDownload(lambda: model_table(model, "townships").to_csv(index=False).encode("utf-8"),
                            filename=f"townships_{tag}.csv", label="townships.csv")
        # the address that reopens this run: its controls in the query, the page's language too
        query = controls_query({("scenario_name" if k == "scenario" else k): v
                                for k, v in getattr(model, "controls", {}).items()}, default_controls())
        query = "&".join(q for q in (query, "lang=zh" if zh else "") if q)
        solara.HTML(tag="a", unsafe_innerHTML=T("Link to this run", "本次运行的链接"), classes=["migrasim-link"],
                    attributes={"href": f"?{query}" if query else "?", "title": T(
                        "Opens the page with this run's controls (copy the address to share it)",
                        "以本次运行的控件打开页面（复制地址即可分享）")})
    pending = pending_changes(model, controls.value)
    if pending:
        items = T(", ", "，").join(f"{control_name(k)} {_show(old, k)} → <b>{_show(new, k)}</b>" for k, old, new in pending)
        solara.HTML(tag="div", unsafe_innerHTML=(
            '<p class="migrasim-pending" style="background:#fff3cd;border-left:4px solid #e0a800;padding:4px 8px">'
            + T("Pending, press <b>Reset</b> to apply: ", "待生效，按<b>“重置”</b>应用：") + items + "</p>"))
    solara.HTML(tag="p", classes=["migrasim-headline"], unsafe_innerHTML=(
        f"{T('Residents', '常住人口')} {c['population']:,.0f}{primacy} · "
        f"{T('urbanisation', '城镇化率')} {c['urbanisation']:.1%} · {T('60+', '60岁及以上')} {c['aged60_share']:.1%}"))
    if getattr(model, "pairs", None) and model.year > model.start:
        items = []
        for column, en, zh_label, factor, fmt, unit in EFFECT_INDICATORS:
            if column in c and c[column] == c[column]:  # NaN: a column the region cannot give (no registered count)
                diffs = [factor * d for d in model.paired_differences(column)]
                items.append(f"<li>{effect_text(diffs, T(en, zh_label), fmt, unit, lang.value)}</li>")
        solara.HTML(tag="div", classes=["migrasim-paired"], unsafe_innerHTML=(
            f'<b>{T("Effect of this run against the baseline", "与基准情景相比的效应")}</b> '
            f'<small>({T("same seeds", "相同随机种子")} {model.seed}-{model.seed + PAIRED_SEEDS - 1}, '
            f'{T("scale", "抽样比例")} {model.scale:g}; '
            f'{T("mean and 90% interval of the paired differences", "配对差值的均值及 90% 区间")})</small>'
            f'<ul style="margin:2px 0 4px 0">{"".join(items)}</ul>'))
    detail = getattr(model, "scenario_detail", None) or {"name": getattr(model, "scenario_name", "")}
    description = scenario_description(detail, lang.value)
    title = scenario_title(detail, lang.value)
    solara.HTML(tag="p", classes=["migrasim-households"], unsafe_innerHTML=T(
        f"Scenario <b>{title}</b>, seed {model.seed}, scale {model.scale:g} ({model.population.n_households:,} households "
        "simulated).", f"情景 <b>{title}</b>，随机种子 {model.seed}，抽样比例 {model.scale:g}（模拟 {model.population.n_households:,} 户）。"))
    # the same text all run: one Markdown widget
    solara.Markdown((f"<small>{description}</small>" if description else "") + "\n\n" + "\n".join(lines) + "\n\n"
                    + _controls_line(getattr(model, "controls", {})))


def model_table(model: MigrationModel, name: str) -> pd.DataFrame:
    """The run's tables so far, as ``run.py run`` writes them: county (a row a year), townships, commuting, flows."""
    if name == "county":
        return model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    if name == "townships":
        return pd.DataFrame(model.township_records)
    if name == "commuting":
        return pd.DataFrame(model.commuting, columns=["year", "home", "workplace", "persons"])
    if name == "flows":
        return pd.DataFrame(model.flows, columns=["year", "origin", "destination", "households", "persons"])
    raise KeyError(name)


def control_name(key: str) -> str:
    """A control's short name in the page's language (what the status panel calls it)."""
    for t in server.toggles:
        if key == t.key:
            return in_language(t.label, lang.value)
        if key == f"{t.key}_year":
            return in_language(t.label, lang.value) + T(" opening", " 开通年份")
    names = {"scenario": ("scenario", "情景"), "platform": ("platform", "平台"), "platform_jobs": ("new jobs", "新增岗位"),
             "hukou_openness": ("hukou openness", "户籍开放度"), "tfr": ("TFR", "总和生育率"), "seed": ("seed", "随机种子"),
             "scale": ("scale", "抽样比例")}
    return T(*names[key]) if key in names else key


def _show(value, key: str = "") -> str:
    """A control's value as the page shows it (a scenario by its title, a switch as on or off)."""
    if key == "scenario":
        return scenario_titles(lang.value).get(value, str(value))
    if key == "platform":
        return in_language(str(value), lang.value)
    if isinstance(value, bool):
        return T("on", "开") if value else T("off", "关")
    return f"{value:g}" if isinstance(value, float) else str(value)


def _controls_line(controls: dict) -> str:
    """The control values this run was built with (sliders show their value only while dragged)."""
    parts = []
    for t in server.toggles:
        if t.key in controls:
            parts.append(f"{control_name(t.key)} {_show(controls[t.key])} ({controls.get(f'{t.key}_year')})")
    for key in ("platform_jobs", "hukou_openness", "tfr"):
        if key in controls:
            parts.append(f"{control_name(key)} {controls[key]:g}")
    path = params.demography.tfr_path
    base = f"{path[0][1]:g}→{path[-1][1]:g}" if path else f"{params.demography.tfr:g}"
    tfr = T(f" The TFR slider untouched keeps the region's path ({base}); moved, its value holds from {server.start + 1}.",
            f" 生育率滑块不动时沿用本地区路径（{base}）；移动后自 {server.start + 1} 年起取该值。")
    return ("<small>" + T("Controls in force: ", "当前运行的控件：") + T(", ", "，").join(parts)
            + T(". Changed controls act on Reset.", "。修改的控件在按“重置”后生效。") + tfr + "</small>\n\n") if parts else ""


def default_controls() -> dict:
    """The controls' values before anyone touches them: the region's params.yaml and server.yaml."""
    return {k: v["value"] for k, v in model_params().items()}


PAGE_CSS = """
.migrasim-grid {display:grid; gap:14px; grid-template-columns: minmax(300px, 340px) minmax(560px, 1fr); align-items:start;}
.migrasim-grid > div {min-width:0;}
.migrasim-grid .migrasim-cell-charts, .migrasim-grid .migrasim-cell-bars {overflow:hidden;}
.migrasim-grid img.migrasim-indicators, .migrasim-grid img.migrasim-bars {max-width:100%; height:auto;}
@media (min-width: 1800px) {
  .migrasim-grid {grid-template-columns: 320px minmax(420px, 0.75fr) minmax(640px, 1.25fr);}
}
.v-navigation-drawer .v-select__selection {white-space:normal;}
"""


@solara.component
def Controls(controls: solara.Reactive[dict]):
    """The planner's controls, bound to ``controls`` (their values show what Reset will run)."""
    for name, spec in model_params().items():
        value = controls.value.get(name, spec["value"])

        def set_value(v, name=name):
            controls.set({**controls.value, name: v})

        kind = spec["type"]
        if kind == "Select" and "shown" in spec:  # the list shows titles; the control's value stays the name
            shown = spec["shown"]
            back = {v: k for k, v in shown.items()}
            solara.Select(label=spec["label"], value=shown.get(value, value), values=[shown.get(v, v) for v in spec["values"]],
                          on_value=lambda text, set_value=set_value, back=back: set_value(back.get(text, text)))
        elif kind == "Select":
            solara.Select(label=spec["label"], value=value, values=spec["values"], on_value=set_value)
        elif kind == "Checkbox":
            solara.Checkbox(label=spec["label"], value=value, on_value=set_value)
        elif kind == "SliderInt":
            solara.SliderInt(spec["label"], value=value, min=spec["min"], max=spec["max"], step=spec["step"],
                             on_value=set_value)
        elif kind == "SliderFloat":
            solara.SliderFloat(spec["label"], value=value, min=spec["min"], max=spec["max"], step=spec["step"],
                               on_value=set_value)
        else:
            raise ValueError(f"unknown control type {kind!r} for {name!r}")


@solara.component
def SaveScenario(model: MigrationModel):
    """Save the run in force as a scenario of the region (its scenario as the base, the controls' levers as its own),
    or download the file; a saved scenario is in the scenario list at once, and choosing it with untouched controls
    reruns the same levers."""
    update_counter.get()
    name = solara.use_reactive("")
    title = solara.use_reactive("")
    description = solara.use_reactive("")
    message = solara.use_reactive(None)
    if not getattr(model, "control_levers", None):
        solara.Text(T("Set levers with the controls and press Reset; the run can then be saved as a scenario.",
                      "用控件设置政策并按“重置”后，可将本次运行保存为情景。"))
        return
    solara.InputText(T("Name (letters, digits, _ or -)", "名称（字母、数字、_ 或 -）"), value=name, continuous_update=True)
    solara.InputText(T("Title (what readers see)", "标题（页面和报告中显示）"), value=title, continuous_update=True)
    solara.InputText(T("Description", "说明"), value=description, continuous_update=True)

    def text(file_name: str) -> str:
        return saved_scenario_text(model, file_name, description.value, title.value, lang.value)

    def save():
        try:
            path = save_scenario(REGION_DIR, name.value, text(name.value))
        except ValueError as exc:
            message.set(("error", T("Not saved: ", "未保存：") + str(exc)))
            return
        message.set(("ok", T(f"Saved as {path}. Choose it in Scenario (other controls untouched) to reopen it.",
                            f"已保存为 {path}。在“情景”中选择它（其他控件保持默认）即可重新打开。")))

    with solara.Row(style={"flex-wrap": "wrap", "gap": "4px"}):
        solara.Button(T("Save scenario", "保存情景"), on_click=save, color="primary", classes=["migrasim-save"])
        solara.FileDownload(lambda: text(name.value or "my_scenario").encode("utf-8"),
                            filename=f"{name.value or 'my_scenario'}.yaml", label=T("Download YAML", "下载 YAML"))
    if message.value:
        kind, text = message.value
        solara.HTML(tag="p", unsafe_innerHTML=text, classes=[f"migrasim-save-{kind}"],
                    style={"color": "#1e7e34" if kind == "ok" else "#b00020", "font-size": "13px"})


@solara.component
def RunController(model: solara.Reactive, controls: solara.Reactive[dict]):
    """Reset (a new run with the controls in force), play and pause, and Step, in the page's language.

    Play steps the model in a thread, a year at a time, until the end year or pause; the page redraws after each
    year."""
    update_counter.get()  # redrawn after each year: Step and play are off at the end year
    playing = solara.use_reactive(False)
    error = solara.use_reactive(None)
    at_end = model.value.year >= model.value.end

    # one render for every part of the page that shows the year (each part that reads the update counter would
    # otherwise start a render of its own: five a step)
    render_context = reacton.core.get_render_context()

    def step_once():
        model.value.step()
        with render_context:
            force_update()

    def play():
        try:
            while playing.value and model.value.year < model.value.end:
                step_once()
                time.sleep(0.05)  # lets the page draw the year before the next one
        except Exception as exc:  # shown on the page; the visitor can Reset
            error.set(f"{type(exc).__name__}: {exc}")
        playing.set(False)

    solara.lab.use_task(play, dependencies=[playing.value], prefer_threaded=True)

    def reset():
        playing.set(False)
        error.set(None)
        try:
            model.set(ServerModel(**controls.value))
        except Exception as exc:
            error.set(f"{type(exc).__name__}: {exc}")

    with solara.Row(justify="space-between"):
        solara.Button(label=T("Reset", "重置"), color="primary", on_click=reset, classes=["migrasim-reset"])
        solara.Button(label="❚❚" if playing.value else "▶", color="primary", on_click=lambda: playing.set(not playing.value),
                      disabled=at_end, classes=["migrasim-play"])
        solara.Button(label=T("Step", "单步"), color="primary", on_click=step_once, disabled=playing.value or at_end,
                      classes=["migrasim-step"])
    if error.value:
        solara.Error(error.value)


def address_language(search: str | None) -> str | None:
    """The language an address asks for (``lang=en`` or ``lang=zh``), or None.

    >>> address_language("scenario=talent&lang=zh"), address_language("seed=3")
    ('zh', None)
    """
    asked = parse_qs(search or "").get("lang", [None])[-1]
    return asked if asked in ("en", "zh") else None


def initial_controls(search: str | None) -> tuple[dict, list[str]]:
    """The controls a visitor starts with: the defaults, changed by the page address's query (see
    :func:`controls_from_query`); what could not be used is said in the address's language."""
    values, problems = controls_from_query(search, model_params(), address_language(search) or lang.value)
    return {**default_controls(), **values}, problems


@solara.component
def Page():
    """One page per browser session: each visitor gets a model of their own, starting at the start year (a model
    built once at import would be shared by every visitor and keep an earlier visitor's year)."""
    search = solara.use_router().search
    start, problems = solara.use_memo(lambda: initial_controls(search), dependencies=[])
    solara.use_effect(lambda: lang.set(address_language(search) or lang.value), [])
    first = solara.use_memo(lambda: first_model(start), dependencies=[])
    model = solara.use_reactive(first)
    controls = solara.use_reactive(start)
    title = T(f"{region.config.name}: migration simulator",
              f"{getattr(region.config, 'name_local', None) or region.config.name}：人口迁移模拟")
    solara.Title(title)
    solara.Style(PAGE_CSS)
    with solara.AppBar():
        solara.AppBarTitle(title)
    with solara.Sidebar():
        with solara.Card(T("Run", "运行"), classes=["migrasim-run-card"]):
            RunController(model, controls)
            if problems:
                solara.Warning(T("Not used from the address: ", "地址中未采用的参数：") + "; ".join(problems))
        with solara.Card(T("Scenario and levers", "情景与政策"), classes=["migrasim-controls"]):
            Controls(controls)
        with solara.Card(T("Save this run as a scenario", "将本次运行保存为情景")):
            SaveScenario(model.value)
    m = model.value
    with solara.Div(classes=["migrasim-grid"]):
        with solara.Div(classes=["migrasim-cell-status"]):
            RunStatus(m, controls)
        with solara.Div(classes=["migrasim-cell-map"]):
            TownshipMap(m)
        with solara.Div(classes=["migrasim-cell-charts"]):
            IndicatorCharts(m)
        with solara.Div(classes=["migrasim-cell-bars"]):
            TownshipPopulations(m)


if os.environ.get("MIGRASIM_SERVE_PID"):  # in the server (not in a process that imports this module for its names)
    threading.Thread(target=warm_page, name="warm-page", daemon=True).start()
else:
    CHARTS_WARM.set()
