"""The browser files Solara's page loads, kept on this machine so the server works offline.

Solara's page asks its server for JavaScript and CSS packages (the Vuetify app, requirejs, the grid layout, ...) under
``/_solara/cdn/<package>@<version>/``; the server answers from a cache folder and otherwise fetches them from a
public CDN at the moment a browser asks, which fails without internet. ``ensure_assets`` fills that cache once, from
the npm registry (``npm pack``), with exactly the versions the installed Solara names.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

# "<cdn>/<package>@<x.y.z...>/": the URLs in Solara's page template, its settings and its widgets' Vue files
_CDN_REF = re.compile(r"(?:cdn\}\}|getCdn\(\)\}|cdn)?/((?:@[a-z0-9-]+/)?[a-z0-9][a-z0-9.-]*)@(\d+\.\d+\.\d+[a-z0-9.-]*)/")


class AssetError(RuntimeError):
    """The server's browser files are missing and could not be fetched."""


def solara_root() -> Path:
    import solara

    return Path(solara.__file__).parent


def cache_dir() -> Path:
    """The folder Solara's server serves ``/_solara/cdn/`` from."""
    from solara.server import settings

    return Path(settings.assets.proxy_cache_dir)


def needed_packages(root: Path | None = None) -> list[tuple[str, str]]:
    """(package, version) pairs the installed Solara's page loads from its CDN path, sorted.

    >>> ("requirejs", "2.3.6") in needed_packages()   # doctest: +SKIP
    True
    """
    root = root or solara_root()
    files = [*root.glob("server/templates/*.j2"), root / "server" / "settings.py", *root.glob("widgets/vue/*.vue"),
             *root.glob("components/*.vue"), *root.glob("components/*.py")]
    found = set()
    for f in files:
        if f.exists():
            found.update(_CDN_REF.findall(f.read_text(encoding="utf-8", errors="ignore")))
    return sorted(found)


def missing_packages(cache: Path | None = None) -> list[tuple[str, str]]:
    """The needed packages that are not in the cache yet."""
    cache = cache or cache_dir()
    return [(p, v) for p, v in needed_packages() if not _in_cache(cache, p, v)]


def _in_cache(cache: Path, package: str, version: str) -> bool:
    """Whether ``package@version`` is whole in ``cache`` (:func:`ensure_assets` puts each in place with a rename)."""
    return (cache / f"{package}@{version}" / "package.json").exists()


def _packed_files(npm_json: str) -> dict[tuple[str, str], str]:
    """(package, version) -> file name, from what ``npm pack --json`` printed (an empty dict if it printed no list).

    >>> _packed_files('[{"name": "requirejs", "version": "2.3.6", "filename": "requirejs-2.3.6.tgz"}]')
    {('requirejs', '2.3.6'): 'requirejs-2.3.6.tgz'}
    """
    try:
        entries = json.loads(npm_json)
    except ValueError:
        return {}
    if not isinstance(entries, list):
        return {}
    return {(e["name"], e["version"]): e["filename"] for e in entries
            if isinstance(e, dict) and {"name", "version", "filename"} <= e.keys()}


def find_npm(todo: list[tuple[str, str]]) -> str:
    """The path of ``npm``, which fetches the packages ``todo``.

    Raises
    ------
    AssetError naming the missing packages when npm is not installed.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError("the server's browser files are not on this machine and npm is not installed to fetch them "
                         f"(needed: {', '.join(f'{p}@{v}' for p, v in todo)}; install Node.js and npm, then run again)")
    return npm


def ensure_assets(log=print, cache: Path | None = None) -> list[tuple[str, str]]:
    """Fetch the missing packages into the cache with ``npm pack``; return what was fetched.

    Raises
    ------
    AssetError naming the package when npm is missing or cannot fetch it.
    """
    cache = cache or cache_dir()
    todo = missing_packages(cache)
    if not todo:
        return []
    npm = find_npm(todo)
    specs = [f"{p}@{v}" for p, v in todo]
    for spec in specs:
        log(f"fetching {spec} for the offline server (once)")
    with tempfile.TemporaryDirectory() as tmp:
        # one npm for all of them: npm's own start-up is most of a small package's fetch (about 4 s for seven
        # packages one by one on a first server start, docs/performance.md)
        done = subprocess.run([npm, "pack", *specs, "--json", "--silent"], cwd=tmp, capture_output=True, text=True,
                              timeout=600)
        if done.returncode != 0:
            raise AssetError(f"npm could not fetch {', '.join(specs)}: {done.stderr.strip()[-300:]}")
        packed = _packed_files(done.stdout)
        for package, version in todo:
            tgz = Path(tmp) / packed.get((package, version), "missing.tgz")
            if not tgz.is_file():
                raise AssetError(f"npm could not fetch {package}@{version}: it wrote no package file "
                                 f"(npm said: {done.stdout.strip()[-300:]})")
            unpacked = Path(tmp) / f"unpacked-{tgz.stem}"
            with tarfile.open(tgz) as tar:
                tar.extractall(unpacked, filter="data")
            target = cache / f"{package}@{version}"
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = target.parent / f".{target.name}.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            shutil.move(str(unpacked / "package"), staging)
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
    return todo


def wait_for_assets(timeout: float = 900.0, poll: float = 0.05, cache: Path | None = None) -> None:
    """Wait until every package the page loads is in the cache: another process is fetching them (:func:`ensure_assets`
    puts each package in place with one rename, so a package is there whole or not at all).

    ``run.py serve`` starts the server while it fetches the browser files itself, so a first start after installing
    does both at once; the page module waits here (at import, before the server listens) so no browser can ask for a
    file that is not there yet. If the fetch fails, ``serve`` stops the server, so the wait ends with the process.

    Raises
    ------
    AssetError naming the packages still missing when ``timeout`` seconds pass.

    >>> wait_for_assets(cache=Path(tempfile.mkdtemp()), timeout=0.1, poll=0.05)   # an empty cache stays empty
    Traceback (most recent call last):
    ...
    viz.assets.AssetError: the server's browser files were not fetched within 0 s (missing: ...)
    """
    cache = cache or cache_dir()
    waiting = missing_packages(cache)
    deadline = time.monotonic() + timeout
    while waiting:
        if time.monotonic() > deadline:
            raise AssetError(f"the server's browser files were not fetched within {timeout:.0f} s "
                             f"(missing: {', '.join(f'{p}@{v}' for p, v in waiting)})")
        time.sleep(poll)
        # only the ones still missing, not needed_packages() again: it reads Solara's files
        waiting = [(p, v) for p, v in waiting if not _in_cache(cache, p, v)]
