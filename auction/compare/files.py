"""The report files on disk: NAME.json, NAME.md and NAME.html (and the --export tables), each replaced
atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path

from auction.compare.export import export_names, export_writers
from auction.compare.html import render_html
from auction.compare.report import dumps_json, markdown
from auction.compare.sweep import CompareResult
from auction.errors import ConfigError


def check_outputs(out_dir: str | Path, json_path: str | Path | None = None) -> None:
    """Refuse, before anything runs, an output place that cannot be written: ``--out`` naming a file, a
    ``--json`` naming a directory, or a parent that is a file or not writable. Nothing is created here."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out_dir}: is a file, not a directory; give a directory for the reports")
    _check_parent(out, f"--out {out_dir}")
    if json_path is not None:
        path = Path(json_path)
        if path.is_dir():
            raise ConfigError(f"--json {json_path}: is a directory; give a file name")
        _check_parent(path.parent, f"--json {json_path}")


def _check_parent(path: Path, flag: str) -> None:
    """The nearest existing ancestor of ``path`` (itself included) must be a writable directory."""
    existing = path.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{flag}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag}: cannot write in {existing} (permission denied)")


def write_reports(result: CompareResult, out_dir: str | Path, json_path: str | Path | None = None,
                  export: str | None = None, plots: Mapping[str, bytes | None] | None = None) -> list[Path]:
    """Write NAME.json, NAME.md and NAME.html into ``out_dir`` (and the JSON to ``json_path`` too); with
    ``export`` ("parquet" or "csv") also the auctions, fills and time series (``auction.compare.export``).
    ``plots`` are the HTML's plots already rendered, by title (``html.EarlyPlots``).

    Everything is rendered first and each file replaced atomically, so a failure leaves nothing half-written.
    """
    out = Path(out_dir)
    stem = safe_name(result.scenario.name)
    writers: dict[Path, Callable[[Path], None]] = {}
    if export is not None:
        result.exports = export_names(stem, export)  # the JSON names the files
        writers = {out / name: write for name, write in export_writers(result, stem, export).items()}
    body = dumps_json(result)
    files: dict[Path, str] = {
        out / f"{stem}.json": body,
        out / f"{stem}.md": markdown(result),
        out / f"{stem}.html": render_html(result, plots),
    }
    if json_path is not None:
        files[Path(json_path)] = body
    for path in [*files, *writers]:
        path.parent.mkdir(parents=True, exist_ok=True)
    for path, write in writers.items():
        _atomic(path, write)
    for path, text in files.items():
        _atomic(path, partial(_write_text, text))
    return [*files, *writers]


def _write_text(text: str, path: Path) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    """``write`` a temporary file beside ``path``, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a report is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def safe_name(name: str) -> str:
    """A file stem from a scenario name (``black-thursday+my`` stays as it is)."""
    return "".join(c if c.isalnum() or c in "-_.+" else "-" for c in name) or "scenario"
