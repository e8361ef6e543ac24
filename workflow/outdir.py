"""Output folders that never destroy what this tool did not write.

Every command that writes a folder (``--out``) goes through here:

- :func:`check_out` runs before any simulation. ``--out`` must be new, empty, or a previous output of the same
  command (it holds the marker file ``.migrasim-output``, or the record file older versions wrote). Anything
  else (a notes folder, a region folder, the working folder, a path under a file, a place that cannot be
  written) is refused with one line naming the folder.
- :func:`atomic_folder` writes into a temporary folder beside ``--out`` and, when every file is complete,
  swaps it with the old output in one atomic step (``renameat2(RENAME_EXCHANGE)`` on Linux). Elsewhere the
  old output is renamed aside first and put back by the next command if a kill falls between the two renames.
- Temporary folders left by a killed command (``.NAME.tmp-PID``, ``.NAME.old-PID``) are cleaned or restored by
  the next command on the same ``--out``, which says so.
- :class:`EvaluationCache` is the checkpoint of the long fits (calibrate, history-match): every finished
  evaluation is appended to ``.NAME.checkpoint/evaluations.jsonl`` beside ``--out``, so a killed fit resumes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from geo.region import RegionDataError

MARKER = ".migrasim-output"

# record files of outputs written before the marker existed, by command
LEGACY_RECORDS = {"run.json": "run", "compare.json": "compare", "calibration.json": "calibrate", "history.json": "history-match",
                  "ensemble.json": "ensemble", "validation.json": "validate", "sweep.json": "batch", "registry.parquet": "batch",
                  "sensitivity.json": "sensitivity", "report.html": "report"}


def output_kind(folder: Path) -> str | None:
    """The command that wrote ``folder`` (from its marker or record file), or None.

    >>> output_kind(Path("/nonexistent")) is None
    True
    """
    folder = Path(folder)
    marker = folder / MARKER
    if marker.is_file():
        try:
            return str(json.loads(marker.read_text(encoding="utf-8"))["command"])
        except (ValueError, KeyError, TypeError, OSError):
            return None
    for name, kind in LEGACY_RECORDS.items():
        if (folder / name).is_file():
            return kind
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def clean_stale(out: Path) -> list[str]:
    """Remove the temporary folders a killed command left beside ``out``; put back an old output that a kill
    left renamed aside. Returns one message per folder handled (folders of live processes are left alone).
    """
    out = Path(out)
    messages = []
    if not out.parent.is_dir():
        return messages
    prefix = f".{out.name}."
    for path in sorted(p for p in out.parent.iterdir() if p.name.startswith(prefix)):
        kind, _, pid = path.name[len(out.name) + 2:].rpartition("-")
        if kind not in ("tmp", "old") or not pid.isdigit() or not path.is_dir() or _pid_alive(int(pid)):
            continue
        if kind == "old" and not out.exists():
            path.rename(out)
            messages.append(f"restored {out} from {path.name} (a command was killed while replacing it)")
        else:
            shutil.rmtree(path, ignore_errors=True)
            messages.append(f"removed {path} (left by a command that was killed)")
    return messages


def _note(messages: list[str]) -> None:
    for m in messages:
        print(f"note: {m}", file=sys.stderr)


def check_out(out: Path, command: str) -> Path:
    """Refuse an ``--out`` this command may not write, before any work starts; return the folder to write.

    Allowed: a path that does not exist, an empty folder, or a folder written by the same ``command``. A symbolic
    link (``runs/latest -> runs/2026-12-06``) stands for the folder it points to: that folder is checked and
    returned, so the results replace it and the link stays.

    Example
    -------
    >>> check_out(Path(tempfile.mkdtemp()) / "new", "run").name
    'new'
    """
    out = Path(out)
    if str(out).strip() == "" or out.name in ("", ".", ".."):
        raise RegionDataError(out, "expected a folder name for --out (not '.', '..' or the empty string)", field="--out")
    here = Path.cwd().resolve()
    try:
        target = out.resolve()
    except (RuntimeError, OSError) as exc:  # a loop of links: RuntimeError up to Python 3.12, OSError from 3.13
        raise RegionDataError(out, f"--out cannot be followed to a folder ({exc}); choose a new folder for the results",
                              field="--out") from None
    if target == here or target in here.parents:
        raise RegionDataError(out, "--out is the working folder or one of its parents; choose a new folder for the results",
                              field="--out")
    if out.is_symlink():
        # replacing the link itself would put a folder in its place and leave the link aside, beside the results
        out = target
    _note(clean_stale(out))
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise RegionDataError(out, "--out exists and is not a folder; choose a new folder for the results", field="--out")
        if any(out.iterdir()):
            kind = output_kind(out)
            if kind is None:
                raise RegionDataError(out, f"--out is a folder that run.py did not write (no {MARKER}); refusing to replace "
                                           "it. Choose a new or empty folder", field="--out")
            if kind != command:
                raise RegionDataError(out, f"--out holds the results of `run.py {kind}`; refusing to replace them with "
                                           f"`run.py {command}`. Choose another folder", field="--out")
    _check_parent(out)
    return out


def check_own_folder(out: Path, command: str) -> Path:
    """Refuse a folder that a command writes inside another output (``report/`` and ``gis/`` of a run folder) when it
    holds something else: a file of that name, or a folder of files the command did not write. The user did not name
    it, so the error says what the command writes there instead of pointing at ``--out``.

    >>> check_own_folder(Path(tempfile.mkdtemp()) / "gis", "export").name
    'gis'
    """
    out = Path(out)
    kind = output_kind(out) if out.is_dir() and any(out.iterdir()) else None
    if (out.exists() and not out.is_dir()) or (out.is_dir() and any(out.iterdir()) and kind != command):
        what = f"the output of `run.py {kind}`" if kind else ("a file" if out.exists() and not out.is_dir() else
                                                              f"files run.py did not write (no {MARKER})")
        raise RegionDataError(out, f"`run.py {command}` writes its results here, replacing only its own earlier results, "
                                   f"but this holds {what}; move or rename it first")
    return out


def _check_parent(out: Path) -> None:
    """The folder that will hold ``out`` exists or can be made, and can be written (a probe folder is made and removed)."""
    existing = out.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise RegionDataError(out, f"cannot create --out: {existing} is a file, not a folder", field="--out")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        Path(tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=out.parent)).rmdir()
    except OSError as exc:
        raise RegionDataError(out, f"cannot write in {out.parent}: {exc.strerror or exc}", field="--out") from None


def check_out_file(out: Path, suffixes: tuple[str, ...]) -> Path:
    """Refuse an output file path before any work: a folder, a suffix the command cannot write, or a place that
    cannot be written.

    >>> check_out_file(Path(tempfile.mkdtemp()) / "map.jpg", (".png",))
    Traceback (most recent call last):
    geo.errors.RegionDataError: ...map.jpg, field '--out': expected a file ending in .png
    """
    out = Path(out)
    if out.suffix.lower() not in suffixes:
        raise RegionDataError(out, f"expected a file ending in {' or '.join(suffixes)}", field="--out")
    if out.is_dir():
        raise RegionDataError(out, "--out is a folder; expected a file name", field="--out")
    _check_parent(out)
    return out


def write_marker(folder: Path, command: str) -> None:
    """Mark ``folder`` as an output of ``command`` (so a later command may replace it, and nothing else)."""
    (Path(folder) / MARKER).write_text(json.dumps({"command": command}) + "\n", encoding="utf-8")


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


@contextmanager
def atomic_folder(out: Path, command: str = "run") -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; when the block ends without error it takes ``out``'s place in
    one step (the previous output, if any, is removed only after that); on error it is removed and ``out``
    stays as it was.

    Example
    -------
    >>> with atomic_folder(Path("runs/x"), "run") as tmp:          # doctest: +SKIP
    ...     (tmp / "a.csv").write_text("...")
    """
    out = check_out(out, command)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write_marker(tmp, command)
        yield tmp
        check_out(out, command)  # the folder may have changed while the command ran
        if not out.exists():
            tmp.rename(out)
        elif _exchange(tmp, out):
            shutil.rmtree(tmp)  # now the old output
        else:
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)  # a kill after this line is repaired by the next command's clean_stale
            tmp.rename(out)
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class EvaluationCache:
    """Finished evaluations of a long fit, appended as they come, so a killed fit resumes where it stopped.

    Keys are hashes of everything that decides an evaluation (see :func:`key`); a line is written only when
    an evaluation is complete, and a torn last line (a kill during the write) is ignored.

    Example
    -------
    >>> c = EvaluationCache(Path(tempfile.mkdtemp()) / "cache")
    >>> c.put(c.key({"seed": 1}), {"error": 0.5}); c.get(c.key({"seed": 1}))
    {'error': 0.5}
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / "evaluations.jsonl"
        self._done: dict[str, dict] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    self._done[row["key"]] = row["value"]
                except (ValueError, KeyError, TypeError):
                    continue

    def __len__(self) -> int:
        return len(self._done)

    @staticmethod
    def key(what: dict) -> str:
        return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:24]

    def get(self, key: str) -> dict | None:
        return self._done.get(key)

    def put(self, key: str, value: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"key": key, "value": value}, default=float) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        self._done[key] = value


def checkpoint_folder(out: Path) -> Path:
    """Where a long command keeps its checkpoint for ``out`` until its results are written."""
    out = Path(out)
    return out.parent / f".{out.name}.checkpoint"
