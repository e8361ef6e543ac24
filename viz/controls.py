"""The server's controls as data: what a region offers (``server.yaml``) and the levers a set of control values means.

Pure functions, no Solara: the page (``viz/app.py``) shows the controls, this module turns their values into the
same scenario levers that ``run.py run`` uses, so the server runs the model exactly as the command line does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from geo.region import RegionDataError, read_model
from sim.params import Params
from sim.scenario import Fertility, Hukou, Jobs
from viz.words import in_language, scenario_title
from workflow.memory import memory_shortfall
from workflow.scenarios import LoadedScenario, load_scenario, scenario_file

SECTORS = Literal["primary", "secondary", "tertiary"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no NaN or infinity in a file


class Toggle(_Strict):
    """A switch for the levers of one scenario file, with a slider for their year."""

    key: str
    label: str
    scenario: str
    checked: bool = False


class Platform(_Strict):
    name: str
    township: str
    sector: SECTORS
    source: str = ""


class JobsControl(_Strict):
    max: int = Field(30000, gt=0)
    step: int = Field(1000, gt=0)
    build_years: int = Field(5, ge=1)
    platforms: list[Platform] = []


class HukouControl(_Strict):
    year: int
    source: str = ""


PAIRED_SEEDS = 3  # seeds of the page's paired comparison with the baseline (viz.app)


class ServerConfig(_Strict):
    """A region's ``server.yaml``."""

    start: int = 2020
    end: int = 2035
    scale: float = Field(0.05, ge=0.001, le=1.0)
    seed: int = 42
    toggles: list[Toggle] = []
    jobs: JobsControl = JobsControl()
    hukou: HukouControl | None = None


def load_server_config(region_folder: Path, region=None) -> ServerConfig:
    """Read ``<region>/server.yaml`` (defaults if the file is absent); errors name the file and field.

    Every toggle's scenario file must exist; with the loaded ``region``, every platform's township must be one of its
    townships (a code, or a name with or without its administrative suffix).

    Example
    -------
    >>> cfg = load_server_config(Path("configs/<region>"))   # doctest: +SKIP
    >>> [t.key for t in cfg.toggles]                          # doctest: +SKIP
    ['hsr_station', 's3_phase2']
    """
    path = Path(region_folder) / "server.yaml"
    if not path.exists():
        return page_fits_in_memory(path, ServerConfig(), region)
    cfg = read_model(path, ServerConfig, "the server controls server.yaml", "start, end, scale, seed, toggles, jobs, hukou")
    for k, t in enumerate(cfg.toggles):
        try:
            scenario_file(region_folder, t.scenario)
        except RegionDataError as exc:
            raise RegionDataError(path, exc.message, field=f"toggles[{k}].scenario") from exc
    if region is not None:
        for k, p in enumerate(cfg.jobs.platforms):
            if region.find_township(p.township) is None:
                known = ", ".join(f"{t.name_zh} ({t.code})" for t in region.townships)
                raise RegionDataError(path, f"unknown township {p.township!r} for platform {p.name!r} (expected one of: {known})",
                                      field=f"jobs.platforms[{k}].township")
    return page_fits_in_memory(path, cfg, region)


def page_fits_in_memory(path: Path, cfg: ServerConfig, region=None) -> ServerConfig:
    """``cfg``, once its start scale is known to fit in memory: with levers the page holds 2 x PAIRED_SEEDS models
    at once, each of the region's start residents times the scale (workflow.memory). Without ``region``, unchecked."""
    if region is not None and cfg.start in region.config.census:
        models = 2 * PAIRED_SEEDS
        short = memory_shortfall(region.total_population(cfg.start) * cfg.scale * models, cfg.scale, scale_name="scale",
                                 fewer=None, what=f"the page's {models} models (with and without its levers, {PAIRED_SEEDS} "
                                                  "seeds each)")
        if short:
            raise RegionDataError(path, short, field="scale")
    return cfg


def toggle_levers(region_folder: Path, toggle: Toggle, year: int | None) -> list:
    """The levers of the toggle's own scenario file, moved so that the earliest acts in ``year``.

    A lever with a span of years (``years: [a, b]``) keeps its length. ``year=None`` keeps the file's years.
    """
    loaded = load_scenario(region_folder, toggle.scenario)
    own_file = scenario_file(region_folder, toggle.scenario).resolve()
    own = [lv for lv, (path, _) in zip(loaded.levers, loaded.origins) if Path(path).resolve() == own_file]
    first = toggle_default_year(own)
    if year is None or first is None:
        return own
    shift = year - first
    moved = []
    for lv in own:
        update = {}
        if getattr(lv, "year", None) is not None:
            update["year"] = lv.year + shift
        if getattr(lv, "years", None) is not None:
            update["years"] = (lv.years[0] + shift, lv.years[1] + shift)
        moved.append(lv.model_copy(update=update))
    return moved


def toggle_default_year(levers: list) -> int | None:
    """The earliest year any of ``levers`` acts in (None if none has a year)."""
    years = [lv.year for lv in levers if getattr(lv, "year", None) is not None]
    years += [lv.years[0] for lv in levers if getattr(lv, "years", None) is not None]
    return min(years) if years else None


SECTOR_ZH = {"primary": "第一产业", "secondary": "第二产业", "tertiary": "第三产业"}


def control_levers(region_folder: Path, config: ServerConfig, params: Params, scenario: LoadedScenario,
                   values: dict, lang: str = "en") -> tuple[list, list[str]]:
    """The levers that ``values`` (the page's controls) add to ``scenario``, and one sentence describing each (in
    English, or in Chinese with ``lang="zh"``).

    Parameters
    ----------
    values : control values by name: ``<toggle key>`` (bool) and ``<toggle key>_year`` for each toggle,
        ``platform`` (platform name), ``platform_jobs``, ``hukou_openness``, ``tfr``.

    A toggle whose scenario is already part of ``scenario`` adds nothing (its levers are in already).
    Hukou and TFR add a lever only when they differ from ``params``.

    Example
    -------
    >>> levers, lines = control_levers(folder, cfg, params, load_scenario(folder, "baseline"),
    ...                                {"platform": "Binhai industrial park", "platform_jobs": 10000})  # doctest: +SKIP
    """
    start = config.start
    levers: list = []
    lines: list[str] = []
    for t in config.toggles:
        if not values.get(t.key, t.checked):
            continue
        if t.scenario in scenario.chain:
            title = scenario_title(scenario.to_dict(), lang)
            lines.append(f"{in_language(t.label, lang)}：已包含在情景“{title}”中" if lang == "zh"
                         else f"{t.label}: already in scenario {title}")
            continue
        year = values.get(f"{t.key}_year")
        own = toggle_levers(region_folder, t, year)
        levers += own
        first = toggle_default_year(own)
        lines.append(f"{in_language(t.label, lang)}：{first} 年起开通" if lang == "zh" else f"{t.label}: on from {first}")
    jobs = float(values.get("platform_jobs") or 0)
    if jobs > 0:
        platform = next((p for p in config.jobs.platforms if p.name == values.get("platform")), None)
        if platform is None:
            raise RegionDataError(Path(region_folder) / "server.yaml", f"unknown platform {values.get('platform')!r}",
                                  field="jobs.platforms")
        years = (start + 1, start + config.jobs.build_years)
        levers.append(Jobs(type="jobs", township=platform.township, sector=platform.sector, jobs=jobs, years=years,
                           source=platform.source, note="added on the server"))
        lines.append(f"{in_language(platform.name, lang)}：{years[0]}-{years[1]} 年新增{SECTOR_ZH[platform.sector]}岗位 {jobs:,.0f} 个" if lang == "zh"
                     else f"{jobs:,.0f} {platform.sector} jobs at {platform.name}, {years[0]}-{years[1]}")
    openness = values.get("hukou_openness")
    if openness is not None and config.hukou is not None and abs(openness - params.moves.hukou_openness) > 1e-9:
        levers.append(Hukou(type="hukou", openness=float(openness), year=config.hukou.year, source=config.hukou.source))
        lines.append(f"户籍开放度 {openness:.2f}，{config.hukou.year} 年起" if lang == "zh"
                     else f"hukou openness {openness:.2f} from {config.hukou.year}")
    tfr = values.get("tfr")
    if tfr is not None and abs(tfr - params.demography.tfr) > 1e-9:
        levers.append(Fertility(type="fertility", tfr=float(tfr), year=start + 1))
        lines.append(f"总和生育率 {tfr:.2f}，{start + 1} 年起" if lang == "zh" else f"TFR {tfr:.2f} from {start + 1}")
    return levers, lines
