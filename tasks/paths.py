"""Local paths a step reads or writes: confined to their folder, of the expected kind, never replacing an input.

* :func:`confined`: a path built from data or arguments (a modality name, an object key, a file found by a
  listing) that must stay inside its root, symlinks included;
* :func:`existing_folder` / :func:`existing_file`: an input that must be there and be a folder / a file;
* :func:`check_output`: an output that must not equal, contain or lie inside an input, and whose existing
  entry (if any) is of the kind that will replace it;
* :func:`replacing_folder`: write a folder in a temporary sibling, then swap it in on success only.

Each refusal is a :class:`~schemas.errors.PathError` whose one-line message names the path.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Iterable, Iterator, Literal

from schemas.errors import OutputOverlapsInput, PathError, PathEscape

Kind = Literal["folder", "file"]


def _plain_relative(part: str) -> bool:
    """Whether ``part`` is a ``/``-separated relative name: no empty, ``.`` or ``..`` segment, no backslash or NUL."""
    return all(s not in ("", ".", "..") and "\\" not in s and "\0" not in s for s in part.split("/"))


def confined(root: str | Path, *parts: str) -> Path:
    """``root/parts...``, refused (:class:`PathEscape`) unless it stays inside ``root``.

    A part may hold ``/``-separated segments; an absolute part, an empty or ``.``/``..`` segment, a
    backslash or a NUL byte is refused, and so is a result that resolves (symlinks followed) outside
    the resolved ``root``. Returns the path as joined, not resolved.
    """
    for part in parts:
        if not _plain_relative(part):
            raise PathEscape(f"{part!r} is not a plain relative name under {root}")
    path = Path(root).joinpath(*parts)
    if not path.resolve().is_relative_to(Path(root).resolve()):
        raise PathEscape(f"{path} resolves to {path.resolve()}, outside {root}")
    return path


def _require_kind(path: Path, kind: Kind, what: str) -> Path:
    if kind == "folder" and not path.is_dir():
        raise PathError(f"{what} {path} is a file, not a folder")
    if kind == "file" and not path.is_file():
        raise PathError(f"{what} {path} is {'a folder' if path.is_dir() else 'not a regular file'}, not a file")
    return path


def existing_folder(path: str | Path, what: str) -> Path:
    """``path`` if it is a folder; else :class:`PathError` ``"<what> <path> does not exist"`` / ``"... is a file"``."""
    path = Path(path)
    if not path.exists():
        raise PathError(f"{what} {path} does not exist")
    return _require_kind(path, "folder", what)


def existing_file(path: str | Path, what: str) -> Path:
    """``path`` if it is a regular file; :class:`PathError` naming it otherwise (missing, a folder, ...)."""
    path = Path(path)
    if not path.exists():
        raise PathError(f"{what} {path} does not exist")
    return _require_kind(path, "file", what)


def _check_target(out: Path, kind: Kind) -> None:
    """``out`` can become a ``kind``: any existing entry there is one, and its nearest existing ancestor is a folder."""
    if out.exists() or out.is_symlink():
        _require_kind(out, kind, "output")
    ancestor = next((p for p in out.absolute().parents if p.exists()), None)
    if ancestor is not None and not ancestor.is_dir():
        raise PathError(f"output {out}: {ancestor} is a file, not a folder")


def _relation(out: Path, source: Path) -> str | None:
    if out == source:
        return "is"
    if out.is_relative_to(source):
        return "lies inside"
    return "contains" if source.is_relative_to(out) else None


def check_output(out: str | Path, inputs: Iterable[str | Path | None] = (), kind: Kind = "folder") -> Path:
    """Return ``out`` if a command may write it (a folder or a file, per ``kind``), else raise :class:`PathError`.

    Refused (:class:`OutputOverlapsInput`): an ``out`` that equals, lies inside or contains one of the
    local ``inputs`` (``None`` and ``s3://`` URIs are skipped; symlinks are resolved), since writing it
    would replace or change that input. Also refused: an existing ``out`` of the other kind, or one
    below a file. Checks only; nothing is created.
    """
    out = Path(out)
    target = out.resolve()
    for source in inputs:
        if source is None or str(source).startswith("s3://"):
            continue
        relation = _relation(target, Path(source).resolve())
        if relation:
            raise OutputOverlapsInput(f"output {out} {relation} the input {source}: writing it would replace that input")
    _check_target(out, kind)
    return out


@contextmanager
def replacing_folder(out_dir: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``out_dir`` that replaces ``out_dir`` only if the block succeeds.

    On an exception nothing at ``out_dir`` changes: the temporary folder is removed, and so are the
    parent folders this call created. An ``out_dir`` that exists as a file (or below one) is refused
    (:class:`PathError`) before anything is written.
    """
    out = Path(out_dir)
    _check_target(out, "folder")
    created = [p for p in out.absolute().parents if not p.exists()]  # deepest first
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary folder
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in created:
            with suppress(OSError):  # another writer put something there meanwhile: leave it
                folder.rmdir()
        raise
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old)
    else:
        tmp.rename(out)
