"""A stand-in for ``npm pack``, so the fetching of the server's browser files is tested without the npm registry."""

from __future__ import annotations

import sys
from pathlib import Path


def write_fake_npm(folder: Path, skip: str = "", delay: float = 0.0, fail: bool = False) -> Path:
    """Write an executable ``folder/npm`` that packs each requested ``package@version`` as npm does (a .tgz holding
    package/package.json in the working folder, a JSON list of what it wrote on stdout).

    ``skip`` names a package it leaves out; ``delay`` seconds it waits first (a slow network); ``fail`` makes it exit 1
    with a message on stderr, as npm does when the registry cannot be reached.
    """
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "npm"
    script.write_text(f"""#!{sys.executable}
import io, json, sys, tarfile, time
time.sleep({delay!r})
if {fail!r}:
    sys.stderr.write("npm error code ENOTFOUND: request to the registry failed\\n")
    sys.exit(1)
out = []
for spec in [a for a in sys.argv[2:] if not a.startswith("--")]:
    name, version = spec.rsplit("@", 1)
    if name == {skip!r}:
        continue
    filename = name.lstrip("@").replace("/", "-") + "-" + version + ".tgz"
    data = json.dumps({{"name": name, "version": version}}).encode()
    with tarfile.open(filename, "w:gz") as tar:
        info = tarfile.TarInfo("package/package.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    out.append({{"name": name, "version": version, "filename": filename}})
print(json.dumps(out))
""", encoding="utf-8")
    script.chmod(0o755)
    return script
