"""The interactive page: Mesa's SolaraViz with a township map, county indicator charts and township bars.

Started by ``python run.py serve`` (which sets the region through the environment and runs ``solara run`` on this
file). The region's ``server.yaml`` says which levers the page offers; ``viz/controls.py`` turns the controls into
scenario levers, so the page runs the model exactly as ``run.py run`` would with the same levers.

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
from mesa.visualization import SolaraViz, solara_viz
from mesa.visualization.utils import update_counter

from sim.indicators import county_columns
from sim.model import MigrationModel
from sim.scenario import compile_levers
from viz.charts import LiveIndicators, LiveTownshipBars, chart_indicators
from viz.controls import control_levers, load_server_config, toggle_default_year, toggle_levers
from viz.mapview import (MAP_INDICATORS, flow_geojson, mode_legend, network_geojson, outline_geojson, township_card,
                         township_geojson, township_labels)
from workflow.io import load_params
from workflow.runner import cached_region
from workflow.scenarios import load_scenario

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
scenario_names = sorted(p.stem for p in (REGION_DIR / "scenarios").glob("*.yaml"))
# population, primacy, each township group's share, urbanisation, ageing and dependency
CHART_INDICATORS = [c for c in chart_indicators(county_columns(region.config.groups)) if c != "migrant_population"]


PAIRED_SEEDS = 3  # seeds of the page's paired comparison with the baseline


def paired_text(diffs: list[float], what: str = "residents", lang: str = "en") -> str:
    """A lever's effect on the page: the paired differences over seeds, and whether they agree in sign.

    >>> paired_text([1200.0, 800.0, 1500.0])
    'levers vs baseline, same seeds: residents +1,167 (+800 to +1,500 over 3 seeds): beyond seed noise'
    >>> paired_text([300.0, -500.0, 900.0])
    'levers vs baseline, same seeds: residents +233 (-500 to +900 over 3 seeds): within seed noise'
    """
    mean = sum(diffs) / len(diffs)
    beyond = min(diffs) > 0 or max(diffs) < 0
    if lang == "zh":
        return (f"与基准情景（相同随机种子）相比：常住人口 {mean:+,.0f}（{len(diffs)} 个种子：{min(diffs):+,.0f} 至 "
                f"{max(diffs):+,.0f}），" + ("超出随机波动" if beyond else "在随机波动范围内"))
    verdict = "beyond seed noise" if beyond else "within seed noise"
    return (f"levers vs baseline, same seeds: {what} {mean:+,.0f} ({min(diffs):+,.0f} to {max(diffs):+,.0f} over "
            f"{len(diffs)} seeds): {verdict}")


class ServerModel(MigrationModel):
    """The model built from the page's controls; SolaraViz builds a new one with these keywords on Reset.

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
        extra, self.lever_lines = control_levers(REGION_DIR, server, params, loaded, controls)
        interventions = compile_levers([*loaded.levers, *extra], region, server.start, server.end)
        super().__init__(region, params=params, start=server.start, end=server.end, scale=float(scale),
                         seed=int(seed), interventions=interventions)
        self.scenario_name = scenario_name
        self.controls = {"scenario": scenario_name, **controls, "seed": int(seed), "scale": float(scale)}
        # With levers, the page also runs the baseline with this seed and the next ones (and the levers with the next
        # ones), so it can show the levers' effect as paired differences and say whether they exceed seed noise.
        self.pairs: list[tuple[MigrationModel, MigrationModel]] = []
        if self.lever_lines or scenario_name != "baseline":
            base = compile_levers(list(load_scenario(REGION_DIR, "baseline").levers), region, server.start, server.end)
            for k in range(PAIRED_SEEDS):
                s = int(seed) + k
                kw = dict(params=params, start=server.start, end=server.end, scale=float(scale), seed=s)
                lever = self if k == 0 else MigrationModel(region, interventions=interventions, **kw)
                self.pairs.append((lever, MigrationModel(region, interventions=base, **kw)))

    def paired_differences(self, column: str = "population") -> list[float]:
        """This year's ``column`` with the levers minus without, one value per seed (empty without levers)."""
        return [lever.current[column] - base.current[column] for lever, base in self.pairs]

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


def model_params() -> dict:
    """SolaraViz's controls, from the region's server.yaml and params.yaml."""
    out: dict = {
        "scenario_name": {"type": "Select", "value": "baseline", "values": scenario_names, "label": "情景 Scenario"},
    }
    for t in server.toggles:
        first = toggle_default_year(toggle_levers(REGION_DIR, t, None)) or server.start + 1
        out[t.key] = {"type": "Checkbox", "value": t.checked, "label": t.label}
        out[f"{t.key}_year"] = {"type": "SliderInt", "value": first, "min": server.start + 1, "max": server.end,
                                "step": 1, "label": "  开通 opening"}
    if server.jobs.platforms:
        out["platform"] = {"type": "Select", "value": server.jobs.platforms[0].name,
                           "values": [p.name for p in server.jobs.platforms], "label": "就业平台 Jobs platform"}
        out["platform_jobs"] = {"type": "SliderInt", "value": 0, "min": 0, "max": server.jobs.max,
                                "step": server.jobs.step,
                                "label": f"  新增岗位 jobs {server.start + 1}-{server.start + server.jobs.build_years}"}
    if server.hukou is not None:
        out["hukou_openness"] = {"type": "SliderFloat", "value": params.moves.hukou_openness, "min": 0.0, "max": 1.0,
                                 "step": 0.01, "label": f"户籍开放 hukou {server.hukou.year}-"}
    # steps of 0.01 from 0.50: every TFR with two decimals, the region's own (e.g. 1.27) included, is on the grid,
    # so an untouched slider gives exactly the region's value
    out["tfr"] = {"type": "SliderFloat", "value": params.demography.tfr, "min": 0.5, "max": 2.1, "step": 0.01,
                  # a short label: a long one took the whole row and left the slider's track 0 px wide (unusable
                  # by mouse); what the slider replaces is said in the status panel's "Controls in force"
                  "label": f"生育率 TFR {server.start + 1}-"}
    out["seed"] = {"type": "SliderInt", "value": server.seed, "min": 1, "max": 100, "step": 1, "label": "种子 Seed"}
    out["scale"] = {"type": "SliderFloat", "value": server.scale, "min": 0.01, "max": 0.2, "step": 0.01,
                    "label": "比例 Scale"}
    return out


map_indicator = solara.reactive("population")
selected_township = solara.reactive(None)
show_flows = solara.reactive(False)
# the page's language: English or Chinese (run.py serve --lang zh starts in Chinese; the 中文 switch changes it)
lang = solara.reactive("zh" if os.environ.get("MIGRASIM_LANG", "en") == "zh" else "en")


def T(en: str, zh: str) -> str:
    """The text in the page's language."""
    return zh if lang.value == "zh" else en


def _view(map_width_px: float = 340, map_height_px: float = 460) -> tuple[tuple[float, float], float]:
    """Centre and zoom that show the whole region in a map of at least ``map_width_px`` x ``map_height_px`` (the map's
    size on a 1366 x 768 laptop screen; larger screens show it with a margin), zoom in quarter steps."""
    import math

    xmin, ymin, xmax, ymax = region.polygons.to_crs("EPSG:4326").total_bounds
    zoom_w = math.log2(map_width_px * 360 / (256 * max(xmax - xmin, 1e-6)))
    # web-Mercator stretches latitude by 1/cos(lat)
    lat = math.radians((ymin + ymax) / 2)
    zoom_h = math.log2(map_height_px * 360 * math.cos(lat) / (256 * max(ymax - ymin, 1e-6)))
    return ((ymin + ymax) / 2, (xmin + xmax) / 2), math.floor(min(zoom_w, zoom_h) * 4) / 4


CENTRE, ZOOM = _view()


def page_layout(num_components: int) -> list[dict]:
    """Where the four panels sit on Mesa's 12-column grid (rows of 30 px): map and status/bars side by side, the
    indicator charts full width below. Mesa's default puts every panel at half width, too small for a map."""
    #          status          map            charts            bars   (the order of the components in make_page)
    places = [(8, 0, 4, 17), (0, 0, 8, 26), (0, 26, 12, 14), (8, 17, 4, 9)]
    return [{"i": i, "x": x, "y": y, "w": w, "h": h, "moved": False}
            for i, (x, y, w, h) in enumerate(places[:num_components])]


# SolaraViz takes no layout argument; its grid asks this module-level function for the first layout.
solara_viz.make_initial_grid_layout = page_layout

# Changed controls act only on Reset (Mesa's rule). To show which ones are pending, Mesa's control panel is wrapped so
# that every change is also recorded here (one value per browser session, as every solara.reactive).
pending_controls = solara.reactive({})
# the run before the last Reset, kept to compare with (its description and county table)
previous_run = solara.reactive(None)
current_run = solara.reactive(None)
_mesa_user_inputs = solara_viz.UserInputs


@solara.component
def RecordingUserInputs(user_params, on_change=None):
    def recorded(name, value):
        pending_controls.set({**pending_controls.value, name: value})
        if on_change is not None:
            on_change(name, value)

    return _mesa_user_inputs(user_params, on_change=recorded)


solara_viz.UserInputs = RecordingUserInputs


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
    # township names at their seats (text only: no marker images, the page stays offline)
    labels = solara.use_memo(lambda: [ipyleaflet.Marker(location=(t["lat"], t["lon"]), draggable=False, keyboard=False,
                                                        icon=ipyleaflet.DivIcon(html=f'<span class="migrasim-label">{t["name_zh"]}</span>',
                                                                                icon_size=[0, 0], icon_anchor=[0, 0]))
                                      for t in township_labels(region)], dependencies=[])
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
                 ".leaflet-div-icon {background:none; border:none;}")
    with solara.Column(classes=["migrasim-map"]):
        with solara.Row():
            by_label = {s.text(lang.value): key for key, s in MAP_INDICATORS.items()}
            solara.Select(label=T("Map colour", "地图着色"), value=spec.text(lang.value), values=list(by_label),
                          on_value=lambda label: map_indicator.set(by_label[label]), style={"max-width": "260px"})
            solara.Checkbox(label=T("moves this year", "本年迁移流"), value=show_flows)
            solara.Markdown(f"**{model.year}** · {spec.text(lang.value)} ({spec.unit})")
        with solara.Row(style={"align-items": "flex-start"}):
            with solara.Column(style={"flex": "1 1 auto", "min-width": "380px"}):
                ipyleaflet.Map.element(center=CENTRE, zoom=ZOOM, zoom_snap=0.25, layers=layers, scroll_wheel_zoom=True,
                                       attribution_control=False, layout={"height": "500px"})
                swatches = "".join(f'<span style="display:inline-block;width:14px;height:14px;background:{c};'
                                   f'border:1px solid #777;margin:0 4px 0 10px;vertical-align:middle"></span>{label}'
                                   for label, c in legend)
                modes = "".join(f'<span style="border-top:3px solid {c};display:inline-block;width:22px;'
                                f'vertical-align:middle;margin:0 4px 0 10px"></span>{m}' for m, c in mode_legend(model))
                moves = ('<span style="border-top:4px solid #1a5276;display:inline-block;width:22px;vertical-align:middle;'
                         'margin:0 4px 0 10px"></span>' + T(f"moves between townships this year (largest 12; widest {biggest:,.0f} persons)",
                                                          f"本年乡镇间迁移（前12条，最大 {biggest:,.0f} 人）")
                         if show_flows.value and flows["features"] else "")
                solara.HTML(tag="div", unsafe_innerHTML=(
                    f'<div class="migrasim-legend">{swatches} &nbsp; <span style="border-top:3px dashed #8e44ad;'
                    f'display:inline-block;width:26px;vertical-align:middle"></span> {T("opens later in the run", "规划期内开通")}</div>'
                    f'<div class="migrasim-legend-network" style="font-size:12px;margin-top:4px">{T("network", "交通网络")}: {modes}{moves}</div>'))
            with solara.Column(style={"flex": "0 0 250px"}):
                if selected_township.value:
                    rows = township_card(model, region, selected_township.value, lang.value)
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
def RunStatus(model: MigrationModel):
    """The year, the scenario, the levers in force and the county's headline figures."""
    update_counter.get()
    c = model.current
    lines = [f"- {line}" for line in getattr(model, "lever_lines", [])] or [T("- no levers from the controls", "- 未启用控件政策")]
    primacy = f" · {T('primacy', '首位度')} {c['primacy']:.1%}" if "primacy" in c else ""
    tag = f"{region.config.name.replace(' ', '_')}_{getattr(model, 'scenario_name', 'run')}_seed{model.seed}_{model.year}"
    solara.Markdown(f"### {T('Year', '年份')} {model.year}")
    with solara.Row(style={"flex-wrap": "wrap", "gap": "4px", "align-items": "center"}):
        solara.Checkbox(label="中文", value=lang.value == "zh", on_value=lambda on: lang.set("zh" if on else "en"))
        solara.FileDownload(lambda: model_table(model, "county").to_csv(index=False).encode("utf-8"),
                            filename=f"county_{tag}.csv", label="county.csv")
        solara.FileDownload(lambda: model_table(model, "townships").to_csv(index=False).encode("utf-8"),
                            filename=f"townships_{tag}.csv", label="townships.csv")
        solara.FileDownload(lambda: model_table(model, "commuting").to_csv(index=False).encode("utf-8"),
                            filename=f"commuting_{tag}.csv", label="commuting.csv")
    pending = pending_changes(model, pending_controls.value)
    if pending:
        items = ", ".join(f"{k} {_show(old)} → <b>{_show(new)}</b>" for k, old, new in pending)
        solara.HTML(tag="div", unsafe_innerHTML=(
            '<p class="migrasim-pending" style="background:#fff3cd;border-left:4px solid #e0a800;padding:4px 8px">'
            + T("Pending, press <b>Reset</b> to apply: ", "待生效，按 <b>Reset</b> 应用：") + items + "</p>"))
    solara.Markdown(
        f"{T('Residents', '常住人口')} {c['population']:,.0f}{primacy} · "
        f"{T('urbanisation', '城镇化率')} {c['urbanisation']:.1%} · 60+ {c['aged60_share']:.1%}")
    pairs = getattr(model, "paired_differences", lambda: [])()
    if pairs and model.year > model.start:
        solara.HTML(tag="div", unsafe_innerHTML=f'<p class="migrasim-paired"><b>{T("Effect", "政策效应")}</b>: '
                    f'{paired_text(pairs, lang=lang.value)}</p>')

    def remember():
        if current_run.value is not None and current_run.value is not model:
            old = current_run.value
            previous_run.set((_describe(old), old.datacollector.get_model_vars_dataframe().reset_index(drop=True)))
        current_run.set(model)

    solara.use_effect(remember, [id(model)])
    if previous_run.value is not None:
        desc, county = previous_run.value
        row = county[county.year == model.year]
        if len(row):
            then = float(row.population.iloc[0])
            solara.HTML(tag="div", unsafe_innerHTML=(
                '<p class="migrasim-previous" style="font-size:13px">' + T("Previous run", "上一次运行") + f" ({desc}): "
                + T("residents", "常住人口") + f" {then:,.0f} " + T("in", "于") + f" {model.year}; "
                + T("this run", "本次") + f" {c['population'] - then:+,.0f}</p>"))
    solara.Markdown(
        T(f"Scenario **{getattr(model, 'scenario_name', '')}**, seed {model.seed}, scale {model.scale:g} "
          f"({model.population.n_households:,} households simulated).",
          f"情景 **{getattr(model, 'scenario_name', '')}**，随机种子 {model.seed}，抽样比例 {model.scale:g}"
          f"（模拟 {model.population.n_households:,} 户）。") + "\n\n" + "\n".join(lines) + "\n\n"
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


def _describe(model) -> str:
    """A short description of a run's controls: scenario, seed and the levers the controls added."""
    controls = getattr(model, "controls", {})
    levers = "; ".join(getattr(model, "lever_lines", [])) or "no control levers"
    return f"{controls.get('scenario', 'baseline')}, seed {controls.get('seed', model.seed)}, {levers}"


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


def make_page(model: MigrationModel | None = None):
    """The SolaraViz page for ``model`` (default: a new model with the region's default controls)."""
    model = model or ServerModel(**default_controls())
    return SolaraViz(model, components=[(RunStatus, 0), (TownshipMap, 0), (IndicatorCharts, 0),
                                        (TownshipPopulations, 0)],
                     model_params=model_params(), name=f"{region.config.name}: migration simulator",
                     play_interval=200)


@solara.component
def Page():
    """One page per browser session: each visitor gets a model of their own, starting at the start year (a model
    built once at import would be shared by every visitor and keep an earlier visitor's year)."""
    model = solara.use_memo(lambda: ServerModel(**default_controls()), dependencies=[])
    return make_page(model)
