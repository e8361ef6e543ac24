"""Files in and out for the model: params.yaml, provenance, and a run's output folder (written atomically)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from geo.region import Region, RegionDataError, _pydantic_error, intrazonal_minutes, load_yaml, validation_message
from sim.params import Params, field_type, scalable, split_factor
from workflow.outdir import atomic_folder  # noqa: F401  (re-exported: every command writes its folder with it)

ROOT = Path(__file__).resolve().parents[1]


def check_parameter_name(path: Path | str, name: str) -> None:
    """A clear error unless ``name`` is a parameter of params.yaml (``section.name``), or ``section.name.factor`` for
    one that takes decimal numbers (sim.params.FACTOR: it scales them); ``path`` is the source named."""
    target, factor = split_factor(name)
    if field_type(target) is None:
        raise RegionDataError(path, f"unknown parameter {name!r} (expected section.name from params.yaml, e.g. moves.beta_access, "
                                    "or section.name.factor to scale one)", field="parameters")
    if factor and not scalable(target):
        raise RegionDataError(path, f"{name!r}: only a parameter of decimal numbers can be scaled ({target} is not)",
                              field="parameters")


def check_values(source: Path | str, params: Params, setting: dict[str, float], region: Region | None = None) -> None:
    """A clear error if a parameter setting is outside a parameter's valid range, or, with ``region``, if it sets a
    commute cap too short for the region (:func:`check_commute_cap`)."""
    try:
        changed = params.with_overrides(setting)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(x) for x in err["loc"])
        got = err.get("input")
        if isinstance(got, dict):  # a rule between parameters of one section: its message names them
            raise RegionDataError(source, f"{name}: {validation_message(err)}", field="parameters") from exc
        raise RegionDataError(source, f"{name} = {got!r} is outside what {name} allows: {validation_message(err)}",
                              field="parameters") from exc
    if region is not None and "labour.commute_max_minutes" in setting:  # params.yaml's own value is checked at prepare
        check_commute_cap(region, changed, source, field="parameters")


def check_commute_cap(region: Region, params: Params, where: str | Path = "params.yaml",
                      field: str = "labour.commute_max_minutes") -> None:
    """Refuse a commute cap (``labour.commute_max_minutes``) shorter than a trip within some township: its residents
    could then work nowhere, not even where they live, and its labour market would empty in the first year.

    Parameters
    ----------
    region : the region the run is on (township areas and the speed of trips within a township).
    params : the run's parameters.
    where : the file or setting the value came from, named in the error.
    field : the field of ``where`` that set it (a scenario's parameter lever names its own).

    Raises
    ------
    RegionDataError naming ``where``, the field, the township and the shortest cap that works.

    Example
    -------
    >>> check_commute_cap(load_region("configs/<region>"), Params())   # the default, 90 minutes   # doctest: +SKIP
    """
    cap = params.labour.commute_max_minutes
    speed = region.config.routing.intrazonal_speed_kmh.value
    area = region.area_km2()
    longest, code = max((intrazonal_minutes(float(area[c]), speed), c) for c in region.codes)
    if cap < longest:
        t = region.township(code)
        raise RegionDataError(where, f"{cap:g} minutes is shorter than a trip within {t.name_zh} {t.name_en} ({longest:.1f} "
                                     "minutes at the region's speed within a township), so its residents could work nowhere, "
                                     f"not even where they live; expected at least {longest:.1f} (commute caps are usually "
                                     "60-120 minutes)", field=field)


def load_params(region_folder: Path) -> Params:
    """Read ``params.yaml`` (section -> name -> {value, meaning, source}) into validated Params.

    A region without the file gets the defaults.
    """
    path = Path(region_folder) / "params.yaml"
    if not path.exists():
        return Params()
    raw = load_yaml(path) or {}
    if not isinstance(raw, dict):
        raise RegionDataError(path, "expected a mapping of sections (moves, migration, ...) at the top level")
    values: dict = {}
    for section, entries in raw.items():
        if not isinstance(entries, dict):
            raise RegionDataError(path, "expected a mapping of parameters", field=str(section))
        values[section] = {}
        for name, entry in entries.items():
            if not isinstance(entry, dict) or "value" not in entry:
                raise RegionDataError(path, "expected {value, meaning, source}", field=f"{section}.{name}")
            values[section][name] = entry["value"]
    try:
        return Params.model_validate(values)
    except ValidationError as exc:
        raise _pydantic_error(path, exc, Params) from exc


def parameter_names() -> list[str]:
    """Every parameter of the model as ``section.name``.

    >>> "demography.tfr" in parameter_names()
    True
    """
    return [f"{section}.{name}" for section, info in Params.model_fields.items()
            for name in info.annotation.model_fields]


def defaults_used(region_folder: Path) -> dict[str, object]:
    """The parameters a region takes from the model's defaults (absent from its params.yaml, or no params.yaml),
    with the default value.

    >>> defaults_used(Path("configs/<region>"))          # doctest: +SKIP
    {}
    """
    path = Path(region_folder) / "params.yaml"
    given: set[str] = set()
    if path.exists():
        load_params(region_folder)  # validates first: a broken file is an error, not a list of defaults
        raw = load_yaml(path) or {}
        given = {f"{section}.{name}" for section, entries in raw.items() for name in (entries or {})}
    defaults = Params()
    return {k: getattr(getattr(defaults, k.split(".")[0]), k.split(".")[1]) for k in parameter_names() if k not in given}


def provenance(root: Path | None = None) -> dict:
    """Package version and git commit of this code, and whether the working tree differs from that commit.

    ``git_dirty`` is True when any tracked file is changed or any file git does not ignore is untracked (a new
    scenario or region file changes a run as much as an edited one), False for a clean tree, and None when git
    cannot tell (no git, not a repository, or git refuses the folder). ``git_changes`` lists what differs
    (``git status --porcelain`` lines, at most 50).

    Example
    -------
    >>> provenance()["git_dirty"] in (True, False, None)
    True
    """
    root = Path(root or ROOT)
    try:
        ver = version("migrasim")
    except PackageNotFoundError:
        import tomllib

        ver = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    commit = dirty = None
    changes: list[str] = []
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True, timeout=5)
        if head.returncode == 0:
            commit = head.stdout.strip() or None
        if status.returncode == 0 and commit is not None:
            changes = [line for line in status.stdout.splitlines() if line.strip()]
            dirty = bool(changes)
    except (OSError, subprocess.SubprocessError):
        pass
    return {"version": ver, "git_commit": commit, "git_dirty": dirty, "git_changes": changes[:50]}


def folder_fingerprint(folder: Path) -> str:
    """Hash of every file's path (relative to ``folder``) and bytes: the same for a copy of the region anywhere, on
    any machine, and different as soon as any file differs. Hidden files (a checkpoint, an editor's swap file) and
    Python caches are left out. Every written result records its region's (run.json and compare.json
    ``region_fingerprint``; a batch's ``region_hash``), so it can be traced to the region files that made it, in or
    outside git.

    >>> folder_fingerprint(Path("/nonexistent"))
    'e3b0c44298fc1c14'
    """
    h = hashlib.sha256()
    folder = Path(folder)
    if folder.is_dir():
        for f in sorted(folder.rglob("*")):
            rel = f.relative_to(folder)
            if not f.is_file() or any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                continue
            h.update(rel.as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def write_run(out: Path, county: pd.DataFrame, townships: pd.DataFrame, flows: pd.DataFrame, meta: dict,
              commuting: pd.DataFrame | None = None) -> Path:
    """Write a run's files into a temporary folder beside ``out``, then rename it into place.

    A failure before the rename leaves ``out`` as it was (nothing half-written).
    """
    with atomic_folder(out, "run") as tmp:
        county.to_csv(tmp / "county.csv", index=False)
        townships.to_csv(tmp / "townships.csv", index=False)
        flows.to_parquet(tmp / "flows.parquet", index=False)
        if commuting is not None:
            commuting.to_parquet(tmp / "commuting.parquet", index=False)
        # the region's files as they are now, hashed once per written run (not in every run of a compare or batch,
        # whose own records hold it once)
        meta = {**meta, "region_fingerprint": folder_fingerprint(meta["region"])} if "region" in meta else meta
        (tmp / "run.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return Path(out)


def damaged_file(path: Path, why: str, line: int | None = None, field: str | None = None) -> RegionDataError:
    """The error for a file a command wrote that is not as it wrote it (cut short, edited, from another program)."""
    return RegionDataError(path, f"{why}; expected the file as run.py wrote it: the folder may be damaged or cut short "
                                 "(make it again with the command that wrote it)", line=line, field=field)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _names(v) -> bool:
    return isinstance(v, list) and len(v) > 0 and all(isinstance(x, str) for x in v)


def _mapping_of_mappings(v) -> bool:
    return isinstance(v, dict) and all(isinstance(x, dict) for x in v.values())


def _parameter_sets(v) -> bool:
    return v is None or (isinstance(v, dict) and isinstance(v.get("members", []), list))


# What the readers of each record use, as each command writes it: (what it should be, test).
RECORD_SHAPES: dict[str, dict[str, tuple[str, object]]] = {
    "run.json": {"region": ("a path", lambda v: isinstance(v, str)), "scenario": ("a name", lambda v: isinstance(v, str)),
                 "seed": ("a whole number", _whole), "scale": ("a number", _number), "start": ("a year", _whole),
                 "end": ("a year", _whole), "scenario_detail": ("a mapping", lambda v: v is None or isinstance(v, dict))},
    "compare.json": {"region": ("a path", lambda v: isinstance(v, str)), "scenarios": ("a list of scenario names", _names),
                     "reference": ("a scenario name", lambda v: isinstance(v, str)),
                     "seeds": ("a list of whole numbers", lambda v: isinstance(v, list) and len(v) > 0 and all(map(_whole, v))),
                     "scale": ("a number", _number), "start": ("a year", _whole), "end": ("a year", _whole),
                     "scenario_runs": ("a mapping of scenario to its record", _mapping_of_mappings),
                     "parameter_sets": ("empty or a mapping with a list of members", _parameter_sets)},
}


def read_record(path: Path, keys: tuple[str, ...] = ()) -> dict:
    """The JSON record a command wrote (``run.json``, ``compare.json``), with ``keys`` present, and every key of
    :data:`RECORD_SHAPES` that is present of the kind the command wrote; a missing, damaged or incomplete file is a
    RegionDataError naming it.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "run.json"
    >>> _ = p.write_text('{"region": "x"')
    >>> read_record(p)
    Traceback (most recent call last):
    ...
    geo.errors.RegionDataError: ...run.json, line 1: not valid JSON (Expecting ',' delimiter); expected the file as run.py wrote it: ...
    """
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegionDataError(path, "file not found (expected the record run.py writes with its results)") from None
    except UnicodeDecodeError as exc:
        raise damaged_file(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise damaged_file(path, f"not valid JSON ({exc.msg})", line=exc.lineno) from exc
    if not isinstance(record, dict):
        raise damaged_file(path, f"a JSON {type(record).__name__}, not an object")
    missing = [k for k in keys if k not in record]
    if missing:
        raise damaged_file(path, f"missing key(s) {', '.join(missing)}")
    for key, (what, fits) in RECORD_SHAPES.get(Path(path).name, {}).items():
        if key in record and not fits(record[key]):
            raise damaged_file(path, f"{key} is {json.dumps(record[key], ensure_ascii=False, default=str)[:60]}, expected {what}",
                           field=key)
    if Path(path).name == "compare.json" and "reference" in record and "scenarios" in record \
            and record["reference"] not in record["scenarios"]:
        raise damaged_file(path, f"the reference {record['reference']!r} is not one of the scenarios {record['scenarios']}",
                       field="reference")
    return record


def folder_kind(folder: Path) -> str:
    """``"run"``, ``"compare"`` or ``"batch"``: which command wrote ``folder``, from the record it left there
    (run.json, compare.json, sweep.json); a clear error for any other folder.

    >>> folder_kind(Path("/nonexistent"))
    Traceback (most recent call last):
    ...
    geo.errors.RegionDataError: /nonexistent: not a run or compare folder, nor a batch folder (expected run.json from `run.py run`, compare.json from `run.py compare` or sweep.json from `run.py batch`)
    """
    folder = Path(folder)
    for record, kind in (("compare.json", "compare"), ("run.json", "run"), ("sweep.json", "batch")):
        if (folder / record).exists():
            return kind
    raise RegionDataError(folder, "not a run or compare folder, nor a batch folder (expected run.json from `run.py run`, "
                                  "compare.json from `run.py compare` or sweep.json from `run.py batch`)")


def recorded_region(folder: Path) -> str:
    """The region folder a run, compare or batch folder records, as it was given to the command that wrote it."""
    kind = folder_kind(folder)
    if kind == "batch":
        sweep = read_record(Path(folder) / "sweep.json", ("sweep",))["sweep"]
        if not isinstance(sweep, dict) or not isinstance(sweep.get("region"), str):
            raise RegionDataError(Path(folder) / "sweep.json", "no region in 'sweep'; expected the file as run.py batch "
                                                                "wrote it (or name the region with --region)")
        return sweep["region"]
    return str(read_record(Path(folder) / f"{kind}.json", ("region",))["region"])


def read_result(path: Path, columns: tuple[str, ...], text: tuple[str, ...] = (), numeric: tuple[str, ...] | bool = (),
                allow_empty: bool = False, gaps: tuple[str, ...] = ()) -> pd.DataFrame:
    """A table a command wrote (CSV, Parquet, or a folder of Parquet files: a batch's dataset), checked before it is
    used: readable, with ``columns``, each filled in every row, and numeric except those in ``text`` (read as
    strings); the columns of ``numeric`` numbers or empty where present (``numeric=True``: every column not in
    ``text``); the columns of ``gaps`` present, numbers or empty; rows unless ``allow_empty``. A file cut short,
    edited by hand or from another program is a RegionDataError naming the file, line and column, not a failure
    half-way through a report.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "county.csv"
    >>> _ = p.write_text("year,population\\n2020,100\\n2021,")
    >>> read_result(p, ("year", "population"))
    Traceback (most recent call last):
    ...
    geo.errors.RegionDataError: ...county.csv, line 3, field 'population': empty; expected the file as run.py wrote it: ...
    """
    path = Path(path)
    try:
        if path.suffix == ".parquet" or path.is_dir():  # a folder: a Parquet dataset (a batch's results)
            df = pd.read_parquet(path)
            df = df.astype({c: str for c in text if c in df.columns})
        else:
            df = pd.read_csv(path, dtype={c: str for c in text})
    except FileNotFoundError:
        raise RegionDataError(path, "file not found (expected a table run.py writes with its results)") from None
    except Exception as exc:  # pandas and pyarrow raise many kinds for a damaged file; all mean the same here
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise damaged_file(path, f"unreadable ({reason})") from exc
    missing = [c for c in (*columns, *gaps) if c not in df.columns]
    if missing:
        raise damaged_file(path, f"missing column(s) {', '.join(missing)}")
    if df.empty and not allow_empty:
        raise damaged_file(path, "no rows")
    for c in columns:
        empty = df[c].isna().to_numpy()
        if empty.any():
            line = int(empty.argmax()) + 2 if path.suffix == ".csv" else None
            raise damaged_file(path, "empty", line=line, field=c)
    if numeric is True:
        numeric = tuple(c for c in df.columns if c not in text)
    for c in [c for c in columns if c not in text] + [c for c in (*(numeric or ()), *gaps) if c in df.columns]:
        if not pd.api.types.is_numeric_dtype(df[c]):
            bad = int((pd.to_numeric(df[c], errors="coerce").isna() & df[c].notna()).to_numpy().argmax())
            raise damaged_file(path, f"expected a number, got {str(df[c].iloc[bad])[:40]!r}",
                           line=bad + 2 if path.suffix == ".csv" else None, field=c)
    return df


def check_result_townships(path: Path, table: pd.DataFrame, codes: list[str], by: tuple[str, ...] = ("year",),
                           region_name: str = "the region") -> None:
    """Refuse a township table of results that does not hold exactly the region's townships once in each group of
    ``by`` (a year; a scenario, seed and year): made from another region, from a township table changed since, or
    edited by hand. Pictures and layers joined to the region's polygons would otherwise fail half-way or drop a place.

    Parameters
    ----------
    path : the file the table was read from (named in the error).
    table : with a ``township`` column (codes as text) and the columns of ``by``.
    codes : the region's township codes.
    by : the columns that name one complete set of townships.
    region_name : named in the error.

    Raises
    ------
    RegionDataError naming the file, the line (CSV) and what was expected.

    Example
    -------
    >>> t = pd.DataFrame({"year": [2020, 2020], "township": ["A", "C"]})
    >>> check_result_townships(Path("townships.csv"), t, ["A", "B"])
    Traceback (most recent call last):
    ...
    geo.errors.RegionDataError: townships.csv, line 3, field 'township': 'C' is not a township of the region (2 codes: A, B); expected ...
    """
    path = Path(path)
    where = (lambda i: i + 2) if path.suffix == ".csv" else (lambda i: None)
    listed = ", ".join(codes[:20]) + (", ..." if len(codes) > 20 else "")
    towns = table["township"].astype(str).to_numpy()
    unknown = ~pd.Series(towns).isin(set(codes)).to_numpy()
    if unknown.any():
        i = int(unknown.argmax())
        raise RegionDataError(path, f"{towns[i]!r} is not a township of {region_name} ({len(codes)} codes: {listed}); "
                                    "expected a result of this region: was the folder made from another region, or has "
                                    "its township table changed since?", line=where(i), field="township")
    keys = [*by, "township"]
    twice = table.duplicated(keys).to_numpy()
    if twice.any():
        i = int(twice.argmax())
        group = ", ".join(f"{k} {table[k].iloc[i]}" for k in by)
        raise damaged_file(path, f"township {towns[i]} appears twice for {group}", line=where(i), field="township")
    absent = [c for c in codes if c not in set(towns)]
    if absent:  # in no year at all: not a damaged file but results of another version of the region
        raise RegionDataError(path, f"{region_name} has township {absent[0]!r}" + (f" (and {len(absent) - 1} more)" if len(absent) > 1 else "")
                              + " but the results have no row for it; expected a result of this region: was the folder "
                                "made from another region, or has its township table changed since?", field="township")
    sizes = table.groupby(list(by), sort=False)["township"].transform("size").to_numpy()
    short = sizes < len(codes)
    if short.any():
        i = int(short.argmax())
        group = table.iloc[i][list(by)]
        present = set(table.loc[(table[list(by)] == group).all(axis=1), "township"].astype(str))
        missing = [c for c in codes if c not in present]
        raise damaged_file(path, f"no row for township {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                       + " in " + ", ".join(f"{k} {group[k]}" for k in by))


def check_flow_places(path: Path, flows: pd.DataFrame, places: list[str]) -> None:
    """Refuse a flows table whose origin or destination is neither a township nor an external zone of the region
    (``places``): the flow map would leave such a row out without a word.

    Example
    -------
    >>> f = pd.DataFrame({"origin": ["A", "Z"], "destination": ["B", "A"]})
    >>> check_flow_places(Path("flows.parquet"), f, ["A", "B", "OUT"])
    Traceback (most recent call last):
    ...
    geo.errors.RegionDataError: flows.parquet, field 'origin': 'Z' (row 2) is not a township or external zone of the region (3 places: A, B, OUT); expected the file as run.py wrote it: the folder may be damaged or cut short (make it again with the command that wrote it)
    """
    known = set(places)
    listed = ", ".join(places[:20]) + (", ..." if len(places) > 20 else "")
    for column in ("origin", "destination"):
        bad = ~flows[column].astype(str).isin(known).to_numpy()
        if bad.any():
            i = int(bad.argmax())  # the first bad row
            raise damaged_file(Path(path), f"{flows[column].iloc[i]!r} (row {i + 1}) is not a township or external zone "
                                           f"of the region ({len(places)} places: {listed})", field=column)


def check_same_years(path: Path, table: pd.DataFrame, years: pd.Series, other: str, by: tuple[str, ...] = ()) -> None:
    """Refuse a county table whose years repeat (within each group of ``by``) or differ from those of the township
    table read beside it (``years``, from the file named ``other``): a report would look up a year one of them lacks.

    >>> t = pd.DataFrame({"year": [2020, 2021, 2021]})
    >>> check_same_years(Path("county.csv"), t, pd.Series([2020, 2021]), "townships.csv")
    Traceback (most recent call last):
    ...
    geo.errors.RegionDataError: county.csv, line 4, field 'year': year 2021 appears twice; expected ...
    """
    path = Path(path)
    twice = table.duplicated([*by, "year"]).to_numpy()
    if twice.any():
        i = int(twice.argmax())
        raise damaged_file(path, f"year {table.year.iloc[i]} appears twice" + "".join(f" for {k} {table[k].iloc[i]}" for k in by),
                           line=i + 2 if path.suffix == ".csv" else None, field="year")
    mine, theirs = set(table.year.astype(int)), set(pd.Series(years).astype(int))
    if mine != theirs:
        odd = sorted(mine ^ theirs)[0]
        where = path.name if odd in mine else other
        raise damaged_file(path, f"its years and those of {other} differ (year {odd} only in {where})", field="year")

