"""The interactive page: a planner's workspace with a township map, county indicator charts and township bars.

Started by ``python run.py serve`` (which sets the region through the environment and runs ``solara run`` on this
file). The region's ``server.yaml`` says which levers the page offers; ``viz/controls.py`` turns the controls into
scenario levers, so the page runs the model exactly as ``run.py run`` would with the same levers. The page uses
Mesa's model controller (Reset, play, Step) but lays itself out: planner-facing controls only, in the page's language,
and a grid that fits a laptop and a desktop screen. A run's scenario can be saved into the region's scenarios folder
(or downloaded) and reopened from the scenario list.

Environment:
    MIGRASIM_REGION  region folder (default ``configs/pingyang``)
    MIGRASIM_TILES   a tile URL template for a background map (default: none, the page works offline)
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import ipyleaflet
import pandas as pd
import solara
from mesa.visualization.solara_viz import ModelController
from mesa.visualization.utils import update_counter

from sim.indicators import county_columns
from sim.model import MigrationModel
from sim.scenario import compile_levers
from viz.charts import LiveIndicators, LiveTownshipBars, chart_indicators
from viz.controls import control_levers, load_server_config, toggle_default_year, toggle_levers
from viz.mapview import (MAP_INDICATORS, flow_geojson, map_frame, mode_legend, network_geojson, outline_geojson,
                         outlying_townships, place_labels, short_name, township_card, township_geojson, township_labels)
from workflow.compare import paired_interval
from workflow.io import load_params
from workflow.runner import cached_region
from workflow.scenarios import load_scenario, save_scenario, scenario_yaml

# Mesa's control panel builds its sliders with solara's default, which shows a slider's value only while it is
# dragged; the planner should always see what a control is set to.
if not isinstance(solara.SliderFloat, functools.partial):
    solara.SliderFloat = functools.partial(solara.SliderFloat, thumb_label="always")
    solara.SliderInt = functools.partial(solara.SliderInt, thumb_label="always")

REGION_DIR = Path(os.environ.get("MIGRASIM_REGION", "configs/pingyang"))
TILES = os.environ.get("MIGRASIM_TILES", "")

region = cached_region(REGION_DIR)
params = load_params(REGION_DIR)
server = load_server_config(REGION_DIR, region)


def scenario_names() -> list[str]:
    """The region's scenarios now (a scenario saved from the page appears at once)."""
    return sorted(p.stem for p in (REGION_DIR / "scenarios").glob("*.yaml") if not p.name.startswith("."))


# population, primacy, each township group's share, urbanisation, ageing and dependency
CHART_INDICATORS = [c for c in chart_indicators(county_columns(region.config.groups)) if c != "migrant_population"]


PAIRED_SEEDS = 3  # seeds of the page's paired comparison with the baseline

# The effect of the levers on the page, as everywhere in this project (workflow.compare.paired_interval): the mean of the
# paired differences (levers minus baseline, same seed) and their 90% interval over the seeds. Points of a share
# (primacy, urbanisation) are percentage points.
EFFECT_INDICATORS = [("population", "residents", "常住人口", 1.0, "{:+,.0f}", ""),
                     ("primacy", "primacy", "首位度", 100.0, "{:+.2f}", " pp"),
                     ("urbanisation", "urbanisation", "城镇化率", 100.0, "{:+.2f}", " pp")]


def effect_text(diffs: list[float], label: str, fmt: str = "{:+,.0f}", unit: str = "", lang: str = "en") -> str:
    """One indicator's effect: mean of the paired differences and its 90% interval, and whether the interval
    excludes zero (beyond seed noise).

    >>> effect_text([1200.0, 800.0, 1500.0], "residents")
    'residents +1,167 (90% interval +840 to +1,470; 3 seeds): beyond seed noise'
    >>> effect_text([0.3, -0.5, 0.9], "primacy", "{:+.2f}", " pp", lang="zh")
    '首位度 +0.23 pp（90% 区间 -0.42 至 +0.84；3 个种子）：在随机波动范围内'
    """
    mean, lo, hi = paired_interval(diffs)
    beyond = lo > 0 or hi < 0
    if lang == "zh":
        return (f"{label} {fmt.format(mean)}{unit}（90% 区间 {fmt.format(lo)} 至 {fmt.format(hi)}；{len(diffs)} 个种子）："
                + ("超出随机波动" if beyond else "在随机波动范围内"))
    return (f"{label} {fmt.format(mean)}{unit} (90% interval {fmt.format(lo)} to {fmt.format(hi)}; {len(diffs)} seeds): "
            + ("beyond seed noise" if beyond else "within seed noise"))


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
        loaded = load_scenario(REGION_DIR, scenario_name)
        self.control_levers, self.lever_lines = control_levers(REGION_DIR, server, params, loaded, controls)
        self.lever_lines_zh = control_levers(REGION_DIR, server, params, loaded, controls, lang="zh")[1]
        interventions = compile_levers([*loaded.levers, *self.control_levers], region, server.start, server.end)
        super().__init__(region, params=params, start=server.start, end=server.end, scale=float(scale),
                         seed=int(seed), interventions=interventions)
        self.scenario_name = scenario_name
        self.scenario_description = loaded.description
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
    """What this run is, in words: the scenario and whether the controls add levers (a run with levers is never
    called the baseline).

    >>> class M: scenario_name, control_levers = "baseline", []
    >>> run_title(M()), run_title(M(), "zh")
    ('baseline (no levers)', '基准情景（无政策变化）')
    >>> M.control_levers = [object()]; run_title(M())
    'baseline + levers from the controls'
    """
    name, extra = getattr(model, "scenario_name", "baseline"), bool(getattr(model, "control_levers", []))
    if language == "zh":
        own = "基准情景" if name == "baseline" else f"情景 {name}"
        return own + ("＋控件政策" if extra else "（无政策变化）" if name == "baseline" else "")
    return name + (" + levers from the controls" if extra else " (no levers)" if name == "baseline" else "")


def saved_scenario_text(model, name: str, description: str) -> str:
    """The scenario file that reproduces ``model``'s run: its scenario as the base, the controls' levers as its own,
    and (in a comment) the command that compares it with the baseline at the page's seeds and scale."""
    seeds = " ".join(str(model.seed + k) for k in range(PAIRED_SEEDS))
    header = (f"Saved from the migrasim page ({region.config.name}).\n"
              f"Reopen it in the page's scenario list, or compare it with the baseline as the page did:\n"
              f"  python run.py compare --region {REGION_DIR} --scenarios baseline {name} --seeds {seeds} "
              f"--scale {model.scale:g} --start {model.start} --end {model.end} --out runs/{name}")
    lines = "; ".join(model.lever_lines) or "no levers beyond its base"
    return scenario_yaml(name, description or f"{run_title(model)}: {lines}", model.scenario_name, model.control_levers,
                         header)


def model_params() -> dict:
    """The page's controls (type, default value, range, label in the page's language), from the region's server.yaml
    and params.yaml."""
    out: dict = {
        "scenario_name": {"type": "Select", "value": "baseline", "values": scenario_names(), "label": T("Scenario", "情景")},
    }
    for t in server.toggles:
        first = toggle_default_year(toggle_levers(REGION_DIR, t, None)) or server.start + 1
        out[t.key] = {"type": "Checkbox", "value": t.checked, "label": t.label}
        out[f"{t.key}_year"] = {"type": "SliderInt", "value": first, "min": server.start + 1, "max": server.end,
                                "step": 1, "label": T("  opening", "  开通年份")}
    if server.jobs.platforms:
        out["platform"] = {"type": "Select", "value": server.jobs.platforms[0].name,
                           "values": [p.name for p in server.jobs.platforms], "label": T("Jobs platform", "就业平台")}
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
    out["seed"] = {"type": "SliderInt", "value": server.seed, "min": 1, "max": 100, "step": 1, "label": T("Seed", "随机种子")}
    out["scale"] = {"type": "SliderFloat", "value": server.scale, "min": 0.01, "max": 0.2, "step": 0.01,
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
    towns_layer = ipyleaflet.GeoJSON.element(data=towns, hover_style={"fillOpacity": 0.95, "weight": 2.5},
                                             name="townships")
    layers += [towns_layer, ipyleaflet.GeoJSON.element(data=outline_geojson(region), name="outline"),
               ipyleaflet.GeoJSON.element(data=network, name="network")]
    flows, biggest = flow_geojson(model, top=12)
    if show_flows.value and flows["features"]:
        layers.append(ipyleaflet.GeoJSON.element(data=flows, name="moves"))
    # township names at their seats, moved apart where they would overlap (text only: the page stays offline)
    labels = solara.use_memo(lambda: [_label_marker(code, lat, lon, text, LABEL_OFFSETS[code])
                                      for code, lat, lon, text in LABELS if code not in OUTLYING], dependencies=[])
    layers.append(ipyleaflet.LayerGroup.element(layers=labels, name="names"))

    def attach_handlers():
        widget = solara.get_widget(towns_layer)
        widget.on_hover(on_feature)
        widget.on_click(on_feature)
        return lambda: (widget.on_hover(on_feature, remove=True), widget.on_click(on_feature, remove=True))

    solara.use_effect(attach_handlers, [])

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
            solara.Markdown(f"**{model.year}** · {spec.text(lang.value)} ({T(spec.unit, UNIT_ZH.get(spec.unit, spec.unit))})")
        # the township card sits beside the map where the cell is wide, below it where it is not
        with solara.Row(style={"align-items": "flex-start", "flex-wrap": "wrap"}):
            with solara.Column(style={"flex": "1 1 380px", "min-width": "380px", "max-width": "640px"}):
                with solara.Div(style={"position": "relative"}):
                    ipyleaflet.Map.element(center=CENTRE, zoom=ZOOM, zoom_snap=0.25, layers=layers, scroll_wheel_zoom=True,
                                           attribution_control=False, layout={"height": f"{MAP_HEIGHT_PX}px"})
                    if INSET is not None:  # the outlying townships (islands), in a corner
                        inset_towns = {"type": "FeatureCollection", "features": [
                            f for f in towns["features"] if f["properties"].get("code") in OUTLYING]}
                        inset_labels = [_label_marker(code, lat, lon, text) for code, lat, lon, text in LABELS
                                        if code in OUTLYING]
                        with solara.Div(classes=["migrasim-inset"]):
                            ipyleaflet.Map.element(
                                center=INSET[0], zoom=INSET[1], zoom_control=False, dragging=False, scroll_wheel_zoom=False,
                                double_click_zoom=False, attribution_control=False, layout={"height": "150px", "width": "150px"},
                                layers=[ipyleaflet.GeoJSON.element(data=inset_towns, name="inset"),
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
                         if show_flows.value and flows["features"] else "")
                solara.HTML(tag="div", unsafe_innerHTML=(
                    f'<div class="migrasim-legend">{swatches} &nbsp; <span style="border-top:3px dashed #8e44ad;'
                    f'display:inline-block;width:26px;vertical-align:middle"></span> {T("opens later in the run", "规划期内开通")}</div>'
                    f'<div class="migrasim-legend-network" style="font-size:12px;margin-top:4px">{T("network", "交通网络")}: {modes}{moves}</div>'))
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
    live = solara.use_memo(lambda: LiveIndicators(region.config.targets, CHART_INDICATORS, (model.start, model.end),
                                                  getattr(model, "scenario_name", "run")), dependencies=[id(model)])
    county = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    solara.Image(live.png(county, f"County indicators to {model.year} (triangles: plan targets)"),
                 classes=["migrasim-indicators"])


@solara.component
def TownshipPopulations(model: MigrationModel):
    """Township populations now, with the start year marked."""
    update_counter.get()
    start = pd.Series({r["township"]: r["population"] for r in model.township_records if r["year"] == model.start})
    live = solara.use_memo(lambda: LiveTownshipBars(region, start, model.start), dependencies=[id(model)])
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
    solara.Markdown(f"### {T('Year', '年份')} {model.year}")
    solara.HTML(tag="p", unsafe_innerHTML=f'<b>{T("This run", "本次运行")}</b>: {run_title(model, lang.value)}',
                classes=["migrasim-run"])
    with solara.Row(style={"flex-wrap": "wrap", "gap": "4px", "align-items": "center"}):
        solara.Checkbox(label="中文", value=zh, on_value=lambda on: lang.set("zh" if on else "en"))
        solara.FileDownload(lambda: model_table(model, "county").to_csv(index=False).encode("utf-8"),
                            filename=f"county_{tag}.csv", label="county.csv")
        solara.FileDownload(lambda: model_table(model, "townships").to_csv(index=False).encode("utf-8"),
                            filename=f"townships_{tag}.csv", label="townships.csv")
    pending = pending_changes(model, controls.value)
    if pending:
        items = ", ".join(f"{k} {_show(old)} → <b>{_show(new)}</b>" for k, old, new in pending)
        solara.HTML(tag="div", unsafe_innerHTML=(
            '<p class="migrasim-pending" style="background:#fff3cd;border-left:4px solid #e0a800;padding:4px 8px">'
            + T("Pending, press <b>Reset</b> to apply: ", "待生效，按 <b>Reset</b> 应用：") + items + "</p>"))
    solara.Markdown(
        f"{T('Residents', '常住人口')} {c['population']:,.0f}{primacy} · "
        f"{T('urbanisation', '城镇化率')} {c['urbanisation']:.1%} · 60+ {c['aged60_share']:.1%}")
    if getattr(model, "pairs", None) and model.year > model.start:
        items = []
        for column, en, zh_label, factor, fmt, unit in EFFECT_INDICATORS:
            if column in c:
                diffs = [factor * d for d in model.paired_differences(column)]
                items.append(f"<li>{effect_text(diffs, T(en, zh_label), fmt, unit, lang.value)}</li>")
        solara.HTML(tag="div", classes=["migrasim-paired"], unsafe_innerHTML=(
            f'<b>{T("Effect of this run against the baseline", "与基准情景相比的效应")}</b> '
            f'<small>({T("same seeds", "相同随机种子")} {model.seed}-{model.seed + PAIRED_SEEDS - 1}, '
            f'{T("scale", "抽样比例")} {model.scale:g}; '
            f'{T("mean and 90% interval of the paired differences", "配对差值的均值及 90% 区间")})</small>'
            f'<ul style="margin:2px 0 4px 0">{"".join(items)}</ul>'))
    description = getattr(model, "scenario_description", "")
    solara.Markdown(
        T(f"Scenario **{getattr(model, 'scenario_name', '')}**, seed {model.seed}, scale {model.scale:g} "
          f"({model.population.n_households:,} households simulated).",
          f"情景 **{getattr(model, 'scenario_name', '')}**，随机种子 {model.seed}，抽样比例 {model.scale:g}"
          f"（模拟 {model.population.n_households:,} 户）。")
        + (f" <small>{description}</small>" if description else "") + "\n\n" + "\n".join(lines) + "\n\n"
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


def _show(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _controls_line(controls: dict) -> str:
    """The control values this run was built with (sliders show their value only while dragged)."""
    parts = []
    for t in server.toggles:
        if t.key in controls:
            parts.append(f"{t.key} {'on' if controls[t.key] else 'off'} ({controls.get(f'{t.key}_year')})")
    for key in ("platform_jobs", "hukou_openness", "tfr"):
        if key in controls:
            parts.append(f"{key} {controls[key]:g}")
    path = params.demography.tfr_path
    base = f"{path[0][1]:g}→{path[-1][1]:g}" if path else f"{params.demography.tfr:g}"
    tfr = T(f" The TFR slider untouched keeps the region's path ({base}); moved, its value holds from {server.start + 1}.",
            f" 生育率滑块不动时沿用本地区路径（{base}）；移动后自 {server.start + 1} 年起取该值。")
    return ("<small>" + T("Controls in force: ", "当前运行的控件：") + ", ".join(parts)
            + T(". Changed controls act on Reset.", "。修改的控件在按 Reset 后生效。") + tfr + "</small>\n\n") if parts else ""


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
        if kind == "Select":
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
    description = solara.use_reactive("")
    message = solara.use_reactive(None)
    if not getattr(model, "control_levers", None):
        solara.Text(T("Set levers with the controls and press Reset; the run can then be saved as a scenario.",
                      "用控件设置政策并按 Reset 后，可将本次运行保存为情景。"))
        return
    solara.InputText(T("Name (letters, digits, _ or -)", "名称（字母、数字、_ 或 -）"), value=name, continuous_update=True)
    solara.InputText(T("Description", "说明"), value=description, continuous_update=True)

    def save():
        try:
            path = save_scenario(REGION_DIR, name.value, saved_scenario_text(model, name.value, description.value))
        except ValueError as exc:
            message.set(("error", str(exc)))
            return
        message.set(("ok", T(f"Saved as {path}. Choose it in Scenario (other controls untouched) to reopen it.",
                            f"已保存为 {path}。在“情景”中选择它（其他控件保持默认）即可重新打开。")))

    with solara.Row(style={"flex-wrap": "wrap", "gap": "4px"}):
        solara.Button(T("Save scenario", "保存情景"), on_click=save, color="primary", classes=["migrasim-save"])
        solara.FileDownload(lambda: saved_scenario_text(model, name.value or "my_scenario", description.value).encode("utf-8"),
                            filename=f"{name.value or 'my_scenario'}.yaml", label=T("Download YAML", "下载 YAML"))
    if message.value:
        kind, text = message.value
        solara.HTML(tag="p", unsafe_innerHTML=text, classes=[f"migrasim-save-{kind}"],
                    style={"color": "#1e7e34" if kind == "ok" else "#b00020", "font-size": "13px"})


@solara.component
def Page():
    """One page per browser session: each visitor gets a model of their own, starting at the start year (a model
    built once at import would be shared by every visitor and keep an earlier visitor's year)."""
    first = solara.use_memo(lambda: ServerModel(**default_controls()), dependencies=[])
    model = solara.use_reactive(first)
    controls = solara.use_reactive(default_controls())
    # Mesa's controller reads these as reactive values; the page fixes them (no developer controls for planners)
    play_interval, render_interval, use_threads = solara.use_reactive(200), solara.use_reactive(1), solara.use_reactive(False)
    title = T(f"{region.config.name}: migration simulator",
              f"{getattr(region.config, 'name_local', None) or region.config.name}：人口迁移模拟")
    solara.Title(title)
    solara.Style(PAGE_CSS)
    with solara.AppBar():
        solara.AppBarTitle(title)
    with solara.Sidebar():
        with solara.Card(T("Run", "运行"), classes=["migrasim-run-card"]):
            ModelController(model, model_parameters=controls, play_interval=play_interval,
                            render_interval=render_interval, use_threads=use_threads)
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
