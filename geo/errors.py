"""The error every bad input becomes: a file (or option), where in it, and what was expected.

Kept apart from :mod:`geo.region` so that code which only reports errors (the command line) need not import the
geometry libraries.
"""

from __future__ import annotations

from pathlib import Path


class RegionDataError(ValueError):
    """A region file is missing or holds a value the model cannot use.

    The message always starts with the file, then the line (CSV, counting the header as
    line 1) or field, then what was expected.
    """

    def __init__(self, file: str | Path, message: str, *, line: int | None = None, field: str | None = None):
        self.file, self.line, self.field, self.message = str(file), line, field, message
        where = [self.file]
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}")
