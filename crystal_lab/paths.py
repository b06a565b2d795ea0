"""Output names that never collide, and output paths checked before the work.

Two writers (two notebooks, two ``crystal-lab sample`` runs, a button pressed twice) that aim at
the same name must never share a file or a folder. Looking first and writing afterwards cannot
promise that: between the look and the write another process may take the name. So every writer
of the lab *claims* its name: it creates the file, or a marker file inside the folder, with
``O_CREAT | O_EXCL``, which the operating system grants to exactly one process; the others move
on to the next name, ``name-2.ext``, ``name-3.ext``, ... Content is written to a temporary file
beside the target and renamed into place, so a reader sees the whole file or none of it.

Slow work (sampling, training) checks its output first (:func:`check_folder`,
:func:`check_file`): a file where a folder is wanted, a folder nobody may write into, or a
parent that cannot be made is refused in one line before anything is computed.

Standard library only: every layer of the package may use it.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

#: how many names (``name``, ``name-2``, ...) a claim tries before it gives up
MAX_NAMES = 10_000

__all__ = ["MAX_NAMES", "candidates", "check_file", "check_folder", "claim_file", "claim_folder",
           "unique_path", "write_atomic", "write_new"]


def candidates(path: str | os.PathLike) -> Iterator[Path]:
    """``path``, then ``name-2.ext``, ``name-3.ext``, ... (folders: ``out``, ``out-2``, ...)."""
    path = Path(path).expanduser()
    yield path
    stem, suffix = (path.stem, path.suffix) if path.suffix and path.stem else (path.name, "")
    for k in range(2, MAX_NAMES + 1):
        yield path.with_name(f"{stem}-{k}{suffix}")


def _taken(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def unique_path(path: str | os.PathLike) -> Path:
    """The first of :func:`candidates` with nothing there *now*. Only a name to show: another
    process may take it the next moment; to write, claim it (:func:`claim_file`,
    :func:`claim_folder`, :func:`write_new`)."""
    for candidate in candidates(path):
        if not _taken(candidate):
            return candidate
    raise FileExistsError(f"{path}: all of {MAX_NAMES} names are taken")


# --------------------------------------------------------------------------- checks


def _existing_ancestor(path: Path) -> Path:
    while not _taken(path) and path.parent != path:
        path = path.parent
    return path


def _try_create_in(folder: Path, target: Path) -> None:
    """Create and remove a file in ``folder`` (an existing folder): the one test of "may I
    write here" that holds for every user, root included, and every file system."""
    probe = folder / f".crystal_lab-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as err:
        why = err.strerror or type(err).__name__
        raise type(err)(f"cannot write {target}: creating a file in {folder} failed ({why}); "
                        "choose a folder you can write to") from None
    probe.unlink()


def _check_can_make(target: Path) -> None:
    """``target`` does not exist: its nearest existing ancestor must be a writable folder."""
    base = _existing_ancestor(target.parent)
    if not base.is_dir():
        raise NotADirectoryError(f"cannot make {target}: {base} is a file, not a folder")
    _try_create_in(base, target)


def check_folder(path: str | os.PathLike,
                 is_free: Callable[[Path], bool] | None = None) -> Path:
    """Refuse, in one line, an output folder the work could not be written to; return it.

    ``path`` may be missing (its parents are made later: the nearest existing one must be a
    writable folder) or an existing writable folder. A file there is refused
    (``NotADirectoryError``), as are read-only folders (``PermissionError``). ``is_free(folder)``:
    whether an existing folder can take the output; when it cannot, the output goes to a fresh
    ``path-2`` beside it, so the parent is checked instead. Nothing is created.
    """
    if not str(path).strip():
        raise ValueError("no output folder given (the path is empty)")
    path = Path(path).expanduser()
    if not _taken(path):
        _check_can_make(path)
    elif not path.is_dir():
        raise NotADirectoryError(f"{path} is a file, not a folder: name a folder for the output")
    elif is_free is None or is_free(path):
        _try_create_in(path, path)
    else:
        _check_can_make(path.with_name(path.name + "-2"))
    return path


def check_file(path: str | os.PathLike, next_free: bool = False) -> Path:
    """Refuse, in one line, an output file that could not be written; return it. Its folder
    must exist as a writable folder or be makeable; an existing folder at ``path`` is refused
    unless ``next_free`` (then the file goes to the next free name)."""
    if not str(path).strip():
        raise ValueError("no output file given (the path is empty)")
    path = Path(path).expanduser()
    if path.is_dir() and not next_free:
        raise IsADirectoryError(f"{path} is a folder: give a file name")
    _check_can_make(path)
    return path


# --------------------------------------------------------------------------- claims


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        why = err.strerror or type(err).__name__
        raise type(err)(f"cannot make the folder {path.parent} ({why})") from None


def _create_exclusive(path: Path) -> bool:
    """Create the empty file ``path`` if nothing is there; False when something is."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except FileExistsError:
        return False
    except OSError as err:
        why = err.strerror or type(err).__name__
        raise type(err)(f"cannot write {path} ({why})") from None
    return True


def claim_file(path: str | os.PathLike, next_free: bool = True) -> Path:
    """Create ``path`` (empty) for this process alone and return it; when something is there,
    the first free ``name-2.ext``, ... (``next_free=False``: ``FileExistsError``). Parents are
    made. Two processes never get the same name."""
    path = Path(path).expanduser()
    _make_parent(path)
    for candidate in candidates(path):
        if _create_exclusive(candidate):
            return candidate
        if not next_free:
            raise FileExistsError(f"{candidate} already exists")
    raise FileExistsError(f"{path}: all of {MAX_NAMES} names are taken")


def claim_folder(path: str | os.PathLike, marker: str,
                 is_free: Callable[[Path], bool] | None = None, next_free: bool = True) -> Path:
    """Make (or take, when it exists, is a folder and ``is_free``) the folder ``path`` for this
    process alone, by creating the file ``marker`` in it exclusively; return the folder. When it
    is taken, the first free ``path-2``, ... (``next_free=False``: ``FileExistsError``)."""
    path = Path(path).expanduser()
    _make_parent(path)
    for candidate in candidates(path):
        try:
            candidate.mkdir()
        except FileExistsError:
            pass
        except OSError as err:
            why = err.strerror or type(err).__name__
            raise type(err)(f"cannot make the folder {candidate} ({why})") from None
        if (candidate.is_dir() and (is_free is None or is_free(candidate))
                and _create_exclusive(candidate / marker)):
            return candidate
        if not next_free:
            raise FileExistsError(f"{candidate} is taken (another run's output is there)")
    raise FileExistsError(f"{path}: all of {MAX_NAMES} names are taken")


# --------------------------------------------------------------------------- writes


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` (parents made) through a temporary file beside it, renamed into
    place: a reader (or a writer racing this one) sees the old file or the new one, never a mix."""
    path = Path(path).expanduser()
    _make_parent(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        why = err.strerror or type(err).__name__
        raise type(err)(f"cannot write {path} ({why})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_new(path: str | os.PathLike, data: bytes | str, next_free: bool = True) -> Path:
    """Claim ``path`` (or the next free name, :func:`claim_file`) and write ``data`` there
    atomically; return the path written. A failed write leaves no file behind."""
    claimed = claim_file(path, next_free)
    try:
        return write_atomic(claimed, data)
    except BaseException:
        claimed.unlink(missing_ok=True)
        raise
