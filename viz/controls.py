"""The server's controls as data: what a region offers (``server.yaml``) and the levers a set of control values means.

Pure functions, no Solara: the page (``viz/app.py``) shows the controls, this module turns their values into the
same scenario levers that ``run.py run`` uses, so the server runs the model exactly as the command line does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from geo.region import RegionDataError, Year, read_model
from sim.params import Params
from sim.scenario import Fertility, Hukou, Jobs, LeverError, compile_levers
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
    year: Year
    source: str = ""


PAIRED_SEEDS = 3  # seeds of the page's paired comparison with the baseline (viz.app)
# the page's own controls: a toggle's key (or its year slider, ``<key>_year``) may not take one of these names
CONTROL_NAMES = ("scenario", "seed", "scale", "platform", "platform_jobs", "hukou_openness", "tfr")


class ServerConfig(_Strict):
    """A region's ``server.yaml``."""

    start: Year = 2020
    end: Year = 2035
    scale: float = Field(0.05, ge=0.001, le=1.0)
    seed: int = Field(42, ge=0, lt=2**32)
    toggles: list[Toggle] = []
    jobs: JobsControl = JobsControl()
    hukou: HukouControl | None = None

    @model_validator(mode="after")
    def _check(self):
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        if self.jobs.build_years > self.end - self.start:
            raise ValueError(f"jobs.build_years ({self.jobs.build_years}) must fit in the years the page runs "
                             f"({self.start + 1}-{self.end}: {self.end - self.start})")
        if self.jobs.step > self.jobs.max:
            raise ValueError(f"jobs.step ({self.jobs.step:,}) must be at most jobs.max ({self.jobs.max:,})")
        if self.hukou is not None and not self.start < self.hukou.year <= self.end:
            raise ValueError(f"hukou.year ({self.hukou.year}) must be a year the page runs ({self.start + 1}-{self.end})")
        taken = list(CONTROL_NAMES)
        for k, t in enumerate(self.toggles):
            for name in (t.key, f"{t.key}_year"):
                if name in taken:
                    raise ValueError(f"toggles[{k}].key {t.key!r} gives a control the name {name!r}, which the page or "
                                     "another toggle already uses; choose another key")
                taken.append(name)
        names = [p.name for p in self.jobs.platforms]
        if (again := next((n for i, n in enumerate(names) if n in names[:i]), None)) is not None:
            raise ValueError(f"platform {again!r} is listed twice in jobs.platforms")
        return self


def load_server_config(region_folder: Path, region=None) -> ServerConfig:
    """Read ``<region>/server.yaml`` (defaults if the file is absent); errors name the file and field.

    Every toggle's scenario file must exist and read; with the loaded ``region``, the start must be a census year,
    every toggle's levers must fit the region and the page's years, every platform's township must be one of its
    townships (a code, or a name with or without its administrative suffix), and the jobs slider's maximum must be
    a programme the model accepts (at most the region's jobs).

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
    if region is not None and cfg.start not in region.config.census:
        raise RegionDataError(path, f"no census for {cfg.start} in region.yaml (census years: "
                                    f"{', '.join(map(str, region.config.census))})", field="start")
    for k, t in enumerate(cfg.toggles):
        try:
            scenario_file(region_folder, t.scenario)
        except RegionDataError as exc:
            raise RegionDataError(path, exc.message, field=f"toggles[{k}].scenario") from exc
        try:  # the page reads the toggle's levers to draw its year slider, and compiles them on Reset
            levers = toggle_levers(region_folder, t, None)
            if region is not None:
                compile_levers(levers, region, cfg.start, cfg.end)
        except RegionDataError as exc:
            raise RegionDataError(path, f"its scenario cannot be used: {exc}", field=f"toggles[{k}].scenario") from exc
        except LeverError as exc:
            raise RegionDataError(path, f"scenario {t.scenario!r}, levers[{exc.index}].{exc.field}: {exc.message}",
                                  field=f"toggles[{k}].scenario") from exc
    if region is not None:
        for k, p in enumerate(cfg.jobs.platforms):
            if region.find_township(p.township) is None:
                known = ", ".join(f"{t.name_zh} ({t.code})" for t in region.townships)
                raise RegionDataError(path, f"unknown township {p.township!r} for platform {p.name!r} (expected one of: {known})",
                                      field=f"jobs.platforms[{k}].township")
        for p in cfg.jobs.platforms:
            try:  # the lever the jobs slider's top makes, checked as a run checks it
                compile_levers([platform_lever(cfg, p, cfg.jobs.max)], region, cfg.start, cfg.end)
            except LeverError as exc:
                raise RegionDataError(path, f"{exc.message} (the jobs slider's top, on platform {p.name!r})",
                                      field="jobs.max") from exc
    return page_fits_in_memory(path, cfg, region)


def page_fits_in_memory(path: Path, cfg: ServerConfig, region=None) -> ServerConfig:
    """``cfg``, once its start scale is known to fit in memory: with levers the page holds 2 x PAIRED_SEEDS models
    at once, each of the region's start residents times the scale (workflow.memory). Without ``region``, unchecked."""
    if region is not None and cfg.start in region.config.census:
        short = page_memory_shortfall(region, cfg.start, cfg.scale)
        if short:
            raise RegionDataError(path, short, field="scale")
    return cfg


def page_memory_shortfall(region, start: int, scale: float, available: float | None = None) -> str | None:
    """Why the page's models at ``scale`` cannot fit in memory (None if they can): with levers it holds
    2 x PAIRED_SEEDS models at once (:func:`workflow.memory.memory_shortfall`). Checked at start for server.yaml's scale
    and on Reset for the scale slider's.

    >>> from types import SimpleNamespace
    >>> region = SimpleNamespace(total_population=lambda year: 1_000_000)
    >>> page_memory_shortfall(region, 2020, 0.1, available=16_000) is None
    True
    >>> page_memory_shortfall(region, 2020, 0.1, available=200).split(";")[0]
    "the page's 6 models (with and without its levers, 3 seeds each) of 600,000 residents would need about 420 MB of memory"
    """
    models = 2 * PAIRED_SEEDS
    return memory_shortfall(region.total_population(start) * scale * models, scale, scale_name="scale", fewer=None,
                            available=available,
                            what=f"the page's {models} models (with and without its levers, {PAIRED_SEEDS} seeds each)")


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


def platform_lever(config: ServerConfig, platform: Platform, jobs: float) -> Jobs:
    """The lever the jobs control makes: ``jobs`` on ``platform``, spread over ``build_years`` from the year after the
    start.

    >>> platform_lever(ServerConfig(), Platform(name="P", township="A", sector="secondary"), 500).years
    (2021, 2025)
    """
    return Jobs(type="jobs", township=platform.township, sector=platform.sector, jobs=jobs,
                years=(config.start + 1, config.start + config.jobs.build_years), source=platform.source,
                note="added on the server")


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
        lever = platform_lever(config, platform, jobs)
        levers.append(lever)
        years = lever.years
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
