"""Scenario files: read ``configs/<region>/scenarios/NAME.yaml``, resolve their base scenarios,
and compile them into the model's Interventions with errors that name the file and the lever."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from geo.region import LAST_YEAR, Region, RegionDataError, _pydantic_error, _short_repr, read_yaml, validation_message
from sim.model import Interventions
from sim.params import Params
from sim.scenario import LEVER_TYPES, LeverError, Scenario, compile_levers
from workflow.io import check_commute_cap


@dataclass
class LoadedScenario:
    """A scenario with its bases resolved: ``levers`` are the bases' first, each with its file and index there."""

    name: str
    description: str
    chain: list[str]                      # the scenarios whose levers are included, bases first
    levers: list = field(default_factory=list)
    title: str = ""
    title_zh: str = ""
    description_zh: str = ""
    origins: list[tuple[Path, int]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def to_dict(self) -> dict:
        """For run.json: the scenario as run, levers included."""
        return {"name": self.name, "title": self.title, "title_zh": self.title_zh, "description": self.description,
                "description_zh": self.description_zh, "chain": self.chain,
                "files": [str(f) for f in self.files],
                "levers": [lv.model_dump(mode="json", by_alias=True, exclude_defaults=True) for lv in self.levers]}


def scenario_names(region_folder: Path) -> list[str]:
    """The names of the region's scenario files (``scenarios/*.yaml``, hidden files left out), sorted."""
    folder = Path(region_folder) / "scenarios"
    return sorted(p.stem for p in folder.glob("*.yaml") if not p.name.startswith(".")) if folder.is_dir() else []


def scenario_file(region_folder: Path, name: str) -> Path:
    """The file for scenario ``name`` (or ``name`` itself if it is a path to a YAML file).

    A clear error lists the scenarios of the region when there is no such file.
    """
    as_path = Path(name)
    if as_path.suffix in (".yaml", ".yml") and _is_file(as_path):
        return as_path
    folder = Path(region_folder) / "scenarios"
    path = folder / f"{name}.yaml"
    if not _is_file(path):
        known = scenario_names(region_folder)
        raise RegionDataError(path, f"unknown scenario {name!r} (available: {', '.join(known) or 'none'})")
    return path


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a file; a name no file can have (too long, a NUL byte) is simply not one."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _read(path: Path) -> Scenario:
    raw = read_yaml(path, "a scenario file", "name, description, base, levers")
    levers = raw.get("levers")
    for k, lv in enumerate(levers if isinstance(levers, list) else []):  # not a list: the schema below says so
        if not isinstance(lv, dict):
            raise RegionDataError(path, f"expected a lever: a mapping with a type and its settings (got {_short_repr(lv)})",
                                  field=f"levers[{k}]")
        kind = lv.get("type")
        if kind not in LEVER_TYPES:
            raise RegionDataError(path, f"unknown lever type {kind!r} (expected one of: {', '.join(LEVER_TYPES)})", field=f"levers[{k}].type")
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise _pydantic_error(path, exc, Scenario) from exc


def load_scenario(region_folder: Path, name: str) -> LoadedScenario:
    """Read a scenario and, recursively, its base scenarios (a missing base or a cycle is an error).

    ``base`` may name one scenario or a list; bases' levers come first, in the order listed, and a
    scenario reached twice (two bases sharing a base) contributes its levers once.

    Example
    -------
    >>> s = load_scenario(Path("configs/<region>"), "baseline")   # doctest: +SKIP
    >>> s.chain, len(s.levers)                                     # doctest: +SKIP
    (['baseline'], 0)
    """
    top_path = scenario_file(region_folder, name)
    top = _read(top_path)
    out = LoadedScenario(name=top.name, description=top.description, chain=[], title=top.title, title_zh=top.title_zh,
                         description_zh=top.description_zh)
    done: set[Path] = set()

    def visit(sc_name: str, path: Path, sc: Scenario, trail: list[str]) -> None:
        bases = [] if sc.base is None else [sc.base] if isinstance(sc.base, str) else sc.base
        for b in bases:
            if b in trail:
                raise RegionDataError(path, f"base scenarios form a cycle: {' -> '.join([*trail, b])}", field="base")
            bpath = _base_file(region_folder, b, path)
            visit(b, bpath, _read(bpath), [*trail, b])
        if path.resolve() in done:
            return
        done.add(path.resolve())
        out.chain.append(sc.name)
        out.files.append(path)
        for k, lv in enumerate(sc.levers):
            out.levers.append(lv)
            out.origins.append((path, k))

    visit(name, top_path, top, [Path(name).stem])
    return out


def _base_file(region_folder: Path, base: str, child: Path) -> Path:
    try:
        return scenario_file(region_folder, base)
    except RegionDataError as exc:
        raise RegionDataError(child, f"base scenario {base!r} does not exist ({exc.message})", field="base") from exc


def build_interventions(region: Region, scenario: LoadedScenario, start: int, end: int,
                        params: Params | None = None) -> Interventions:
    """Compile a loaded scenario for a run; a bad lever is reported with its own file and index.

    With ``params`` (the run's parameters), the scenario's ``parameter`` levers are also applied to them in year
    order, as the run will, so a value outside a parameter's range (or one that breaks a rule between parameters)
    is reported before the run instead of stopping it in that lever's year.
    """
    try:
        iv = compile_levers(scenario.levers, region, start, end)
    except LeverError as exc:
        path, k = scenario.origins[exc.index]
        raise RegionDataError(path, exc.message, field=f"levers[{k}].{exc.field} ({scenario.levers[exc.index].type})") from exc
    if params is not None:
        check_parameter_levers(scenario, params, region)
    return iv


def check_parameter_levers(scenario: LoadedScenario, params: Params, region: Region | None = None) -> None:
    """Apply ``scenario``'s parameter levers to ``params`` in year order (bases first within a year); the first that
    leaves them invalid is reported with its file, index and what the parameter allows. With ``region``, a commute
    cap a lever sets is also checked against it (:func:`check_commute_cap`).

    >>> from sim.params import Params
    >>> from sim.scenario import Parameter
    >>> s = LoadedScenario("x", "", ["x"], [Parameter(type="parameter", year=2024, name="demography.tfr", value=9.0)],
    ...                    origins=[(Path("x.yaml"), 0)])
    >>> check_parameter_levers(s, Params())
    Traceback (most recent call last):
    ...
    geo.errors.RegionDataError: x.yaml, field 'levers[0].value (parameter)': demography.tfr = 9.0 from 2024 is outside what it allows: Input should be less than or equal to 8
    """
    from sim.scenario import Parameter

    order = sorted((lv.year, i) for i, lv in enumerate(scenario.levers) if isinstance(lv, Parameter))
    for year, i in order:
        lv = scenario.levers[i]
        try:
            params = params.with_overrides({lv.name: lv.value})
        except ValidationError as exc:
            path, k = scenario.origins[i]
            why = validation_message(exc.errors()[0])
            raise RegionDataError(path, f"{lv.name} = {lv.value!r} from {year} is outside what it allows: {why}",
                                  field=f"levers[{k}].value (parameter)") from None
        if region is not None and lv.name == "labour.commute_max_minutes":
            path, k = scenario.origins[i]
            check_commute_cap(region, params, path, field=f"levers[{k}].value (parameter)")


def check_scenarios(region_folder: Path, region: Region, params: Params) -> tuple[list[str], list[RegionDataError]]:
    """Every scenario file of the region read, its bases resolved and its levers compiled against the region and
    ``params`` (years anywhere after the first census: the run's own window is checked when it runs).

    Returns the names of the scenarios that passed and the error of each that did not (and one for a missing
    ``baseline.yaml``), so that check-config can list every broken file at once instead of stopping at the first.

    Example
    -------
    >>> good, bad = check_scenarios(Path("configs/<region>"), region, params)   # doctest: +SKIP
    >>> "baseline" in good, [str(e) for e in bad]                               # doctest: +SKIP
    (True, [])
    """
    names = scenario_names(region_folder)
    good, bad = [], []
    if "baseline" not in names:
        bad.append(RegionDataError(Path(region_folder) / "scenarios" / "baseline.yaml", "no baseline scenario: run's default scenario and what the "
                                   "page and compare measure levers against (a file with name: baseline and no levers)"))
    for name in names:
        try:
            build_interventions(region, load_scenario(region_folder, name), min(region.census_years), LAST_YEAR, params)
        except RegionDataError as exc:
            bad.append(exc)
        else:
            good.append(name)
    return good, bad


SCENARIO_NAME = r"[A-Za-z0-9][A-Za-z0-9_\-]{0,59}"


def scenario_yaml(name: str, description: str, base: str | None, levers: list, header: str = "",
                  titles: dict[str, str] | None = None) -> str:
    """A scenario file's text: ``name``, ``description``, the ``base`` scenario it extends and its own ``levers``
    (lever objects, written as the scenario format spells them), after ``header`` comment lines. ``titles`` may give
    ``title``, ``title_zh`` and ``description_zh``.

    The text reads back with :func:`load_scenario` into the same levers.

    >>> from sim.scenario import Fertility
    >>> print(scenario_yaml("tfr_up", "TFR 1.5", "baseline", [Fertility(type="fertility", tfr=1.5, year=2021)]))
    name: tfr_up
    description: TFR 1.5
    base: baseline
    levers:
    - type: fertility
      tfr: 1.5
      year: 2021
    <BLANKLINE>
    """
    import yaml

    doc = {"name": name, **{k: v for k, v in (titles or {}).items() if k in ("title", "title_zh") and v},
           "description": description}
    if (titles or {}).get("description_zh"):
        doc["description_zh"] = titles["description_zh"]
    if base:
        doc["base"] = base
    doc["levers"] = [lv.model_dump(mode="json", by_alias=True, exclude_defaults=True) for lv in levers]
    comments = "".join(f"# {line}\n" for line in header.splitlines())
    return comments + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=200)


def save_scenario(region_folder: Path, name: str, text: str) -> Path:
    """Write a new scenario file ``<region>/scenarios/<name>.yaml`` (whole or not at all) and return its path.

    Refuses a name that is not a plain file name (letters, digits, ``_`` and ``-``), a scenario that exists already
    (saving never overwrites a scenario, shipped or saved), and a text that does not read back as a valid scenario
    whose ``name`` is ``name``: each with a clear message (``ValueError``), as is a folder that cannot be written.
    The file is made only if no file has the name at that moment, so a scenario another visitor of the page saved
    meanwhile is never replaced.
    """
    import re

    if not re.fullmatch(SCENARIO_NAME, name or ""):
        raise ValueError(f"a scenario name is 1-60 letters, digits, '_' or '-', starting with a letter or digit; got {name!r}")
    import os
    import tempfile

    folder = Path(region_folder) / "scenarios"
    path = folder / f"{name}.yaml"
    exists = ValueError(f"scenario {name!r} exists already ({path}); choose another name")
    if path.exists():
        raise exists
    try:
        # a temporary name of its own: two visitors of the page may save at the same moment
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.saving-", suffix=".yaml", dir=folder)
    except OSError as exc:  # a region folder that cannot be written (read-only, not a folder, disk full)
        raise ValueError(f"cannot write in {folder}: {exc.strerror or exc}; download the scenario instead") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        try:
            loaded = load_scenario(region_folder, str(tmp))  # (also: its bases exist and form no cycle)
        except RegionDataError as exc:  # name the file being saved, not the temporary one
            raise ValueError(f"{path}{f', field {exc.field!r}' if exc.field else ''}: {exc.message}") from exc
        if loaded.name != name:
            raise ValueError(f"the scenario text names another scenario than {name!r}")
        try:
            os.link(tmp, path)  # made only if no file has the name, at once: never over a scenario saved meanwhile
        except FileExistsError:
            raise exists from None
        except OSError:  # a file system without hard links (FAT, some network shares): check, then rename
            if path.exists():
                raise exists from None
            tmp.replace(path)
    except OSError as exc:
        raise ValueError(f"cannot write {path}: {exc.strerror or exc}; download the scenario instead") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path
