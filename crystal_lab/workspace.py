"""Student workspaces and saved results.

A workshop needs two things that have nothing to do with diffusion:

* ``create_workspace(dest)``: copy the course notebooks into a folder of the student's own, so a
  ``git pull`` of the course never clobbers their edits. An existing file is never overwritten;
  what was kept is reported.
* ``save_results(path_zip, structures, table, figures)``: one zip with everything a session made
  (CIF per structure + one extxyz, the evaluation table as CSV, figures as HTML/PNG), the file a
  student downloads before the Binder session dies.

Heavy libraries (ase, pandas, plotly) load inside the functions that need them: ``crystal-lab
--help`` and ``import crystal_lab.workspace`` stay fast.
"""
from __future__ import annotations

import io
import json
import os
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from crystal_lab.paths import (
    check_file,
    check_folder,
    claim_folder,
    unique_path,
    write_atomic,
    write_new,
)

#: file types a student gets a copy of (notebooks and the pictures/notes they show)
COPY_SUFFIXES = frozenset({".ipynb", ".md", ".png", ".jpg", ".jpeg", ".gif", ".svg"})
#: folder names never copied into a workspace (solutions stay with the instructor)
EXCLUDED_DIRS = frozenset({"solutions", "_solutions", "__pycache__", ".ipynb_checkpoints"})

#: notebook the lab opens first
WELCOME_NOTEBOOK = "00_welcome.ipynb"


# --------------------------------------------------------------------------- notebooks

def notebooks_dir() -> Path:
    """The course notebooks: ``$CRYSTAL_LAB_NOTEBOOKS``, else ``notebooks/`` of this checkout,
    else ``crystal_lab/notebooks`` (a non-editable install that ships them)."""
    here = Path(__file__).resolve().parent
    candidates = []
    if os.environ.get("CRYSTAL_LAB_NOTEBOOKS"):
        candidates.append(Path(os.environ["CRYSTAL_LAB_NOTEBOOKS"]).expanduser())
    candidates += [here.parent / "notebooks", here / "notebooks"]
    for path in candidates:
        if path.is_dir() and any(path.glob("*.ipynb")):
            return path
    raise FileNotFoundError(
        "no course notebooks found (looked in " + ", ".join(str(p) for p in candidates)
        + "): clone the crystal_lab repository or pass --dir / set CRYSTAL_LAB_NOTEBOOKS")


def _wanted(rel: Path) -> bool:
    """True for a file a student should get: a notebook or a picture, outside hidden and
    solution folders."""
    if any(part.startswith(".") or part in EXCLUDED_DIRS for part in rel.parts):
        return False
    return rel.suffix.lower() in COPY_SUFFIXES


def course_files(source: str | os.PathLike) -> list[Path]:
    """Paths (relative to ``source``) of the files ``create_workspace`` copies, sorted."""
    source = Path(source)
    return sorted(p.relative_to(source) for p in source.rglob("*")
                  if p.is_file() and _wanted(p.relative_to(source)))


@dataclass
class WorkspaceReport:
    """What ``create_workspace`` did: relative paths copied and kept (already there)."""
    dest: Path
    copied: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"workspace {self.dest}: copied {len(self.copied)} file(s)"]
        if self.skipped:
            lines.append(f"kept {len(self.skipped)} existing file(s) untouched (rename or delete "
                         "one to get a fresh copy): " + ", ".join(map(str, self.skipped)))
        return "\n".join(lines)


def create_workspace(dest: str | os.PathLike, source: str | os.PathLike | None = None,
                     ) -> WorkspaceReport:
    """Copy the course notebooks from ``source`` (default ``notebooks_dir()``) into ``dest``.

    Never overwrites: a file that already exists in ``dest`` is left as it is and listed in
    ``report.skipped``. Hidden files, ``solutions/`` folders and anything that is not a notebook,
    markdown note or picture are not copied.
    """
    source = Path(source) if source is not None else notebooks_dir()
    if not source.is_dir():
        raise FileNotFoundError(f"notebook folder {source} does not exist")
    dest = check_folder(dest)   # a file there or a read-only folder: one line, before any copy
    if dest.resolve() == source.resolve():
        raise ValueError(f"workspace {dest} is the course folder itself: choose another folder")
    report = WorkspaceReport(dest=dest)
    for rel in course_files(source):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(target, "xb") as out:  # "x": fails if the file exists, so never clobbers
                out.write(_student_copy(source / rel))
        except FileExistsError:
            report.skipped.append(rel)
        else:
            report.copied.append(rel)
    return report


def _student_copy(path: Path) -> bytes:
    """A notebook with its outputs and execution counts cleared (students run every cell
    themselves, and stored answers are not on screen); other files as they are. Cell attachments
    (the workshop-size figures) stay."""
    if path.suffix != ".ipynb":
        return path.read_bytes()
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


# --------------------------------------------------------------------------- structures

def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "structure"


#: the file each run folder gets, listing what that run wrote
MANIFEST_NAME = "manifest.json"
STRUCTURE_SUFFIXES = (".cif", ".extxyz", ".xyz")


def _as_atoms_list(structures) -> list:
    """Atoms copies of ``structures`` with ``atoms.info`` reduced to scalars (for extxyz).
    A row with NaN coordinates or masked ``X`` atoms (:func:`~crystal_lab.structures.
    writable_reason`) raises ``ValueError`` naming the row, before anything is written."""
    from crystal_lab.structures import as_list, to_atoms, writable_reason

    if structures is None:
        return []
    items = as_list(structures)
    bad = [(i, why) for i, why in ((i, writable_reason(x)) for i, x in enumerate(items)) if why]
    if bad:
        listed = "; ".join(f"row {i}: {why}" for i, why in bad[:5])
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise ValueError(f"cannot save {len(bad)} of {len(items)} structure(s): {listed}{more}. "
                         "Nothing was written: drop those rows (or finish sampling) and save again")
    out = []
    for x in items:
        atoms = to_atoms(x).copy()
        # a dict (a template) is written as JSON text
        atoms.info = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in atoms.info.items()
                      if isinstance(v, (str, bool, int, float, dict))
                      or (type(v).__module__ == "numpy" and getattr(v, "ndim", 1) == 0)}
        out.append(atoms)
    return out


def _extxyz_text(atoms_list) -> str:
    import ase.io

    buf = io.StringIO()
    ase.io.write(buf, atoms_list, format="extxyz")
    return buf.getvalue()


def structure_file_names(atoms_list) -> list[str]:
    """``000_BaTiO3.cif``, ``001_NaCl.cif``, ...: index first, so order is kept and names
    never collide."""
    from crystal_lab.structures import formula
    return [f"{i:03d}_{_safe_name(formula(a, reduce=False))}.cif" for i, a in enumerate(atoms_list)]


def _structure_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in STRUCTURE_SUFFIXES)


def holds_run(folder: Path) -> bool:
    """True when ``folder`` holds structure files or a run manifest (it cannot take a new run)."""
    return (folder / MANIFEST_NAME).exists() or bool(_structure_files(folder))


def check_run_folder(out_dir: str | os.PathLike) -> Path:
    """Refuse, in one line and before any work, a run folder :func:`write_structures` could not
    write (a file there, a read-only folder, a parent that cannot be made); creates nothing."""
    return check_folder(out_dir, is_free=lambda folder: not holds_run(folder))


def write_structures(structures, out_dir: str | os.PathLike,
                     extxyz_name: str = "structures.extxyz", next_free: bool = False) -> list[Path]:
    """Write one CIF per structure plus all of them in one extxyz file into ``out_dir``, and a
    ``manifest.json`` naming the files of this run; return the structure paths written (CIFs
    first, extxyz last).

    One folder per run, claimed for this run alone (its ``manifest.json`` created exclusively,
    :func:`crystal_lab.paths.claim_folder`): a folder that holds structure files or a manifest,
    or that another process claimed first, is refused (``FileExistsError``); ``next_free=True``
    writes to the first free ``out_dir-2``, ``out_dir-3``, ... instead. Two processes never share
    a folder. A row that cannot be written (NaN coordinates, masked atoms) or an output that
    cannot be made (a file in the way, a read-only folder) refuses the whole call before
    anything is written.
    """
    from crystal_lab.structures import cif_text

    if Path(extxyz_name).name != extxyz_name or Path(extxyz_name).suffix.lower() != ".extxyz":
        raise ValueError(f"extxyz_name must be a plain file name ending in .extxyz, "
                         f"got {extxyz_name!r}")
    atoms_list = _as_atoms_list(structures)
    if not atoms_list:
        raise ValueError("no structures to write")
    out_dir = check_run_folder(out_dir)
    if not next_free and out_dir.is_dir() and holds_run(out_dir):
        raise FileExistsError(
            f"{out_dir} already holds structures from an earlier run: write this run to a new "
            f"folder (e.g. {unique_path(out_dir)}) so the two are never scored as one")
    names = structure_file_names(atoms_list)
    texts = {name: cif_text(atoms) for name, atoms in zip(names, atoms_list, strict=True)}
    texts[extxyz_name] = _extxyz_text(atoms_list)
    out_dir = claim_folder(out_dir, MANIFEST_NAME, lambda d: not _structure_files(d), next_free)
    for name, text in texts.items():
        (out_dir / name).write_text(text)
    manifest = {"crystal_lab_run": 1,
                "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "n_structures": len(atoms_list), "extxyz": extxyz_name, "cif": list(texts)[:-1]}
    write_atomic(out_dir / MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")
    return [out_dir / name for name in texts]


def _run_files(folder: Path) -> list[Path]:
    """The structure files of the one run in ``folder``: its manifest's extxyz (or CIFs), else
    (a folder written by other tools) its ``*.cif`` files, or its ``*.extxyz`` / ``*.xyz``."""
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.exists():
        found = sorted(folder.glob("*.cif")) or sorted([*folder.glob("*.extxyz"),
                                                        *folder.glob("*.xyz")])
        if not found:
            raise FileNotFoundError(f"{folder} has no .cif, .extxyz or .xyz file")
        return found
    try:
        manifest = json.loads(manifest_path.read_text())
        listed = [manifest["extxyz"]] if (folder / manifest["extxyz"]).is_file() \
            else list(manifest["cif"])
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{manifest_path} is not a crystal_lab run manifest ({err}): "
                         "remove it to read the folder's files") from None
    files = [folder / name for name in listed]
    absent = [f.name for f in files if not f.is_file()]
    if absent:
        raise FileNotFoundError(f"{folder}: files named in {MANIFEST_NAME} are missing: "
                                + ", ".join(absent[:5]))
    run = {*manifest.get("cif", []), manifest["extxyz"]}
    others = [p.name for p in _structure_files(folder) if p.name not in run]
    if others:
        warnings.warn(f"{folder}: read the run named in {MANIFEST_NAME}; ignored {len(others)} "
                      f"structure file(s) of another run: {', '.join(others[:5])}", stacklevel=3)
    return files


def read_structures(paths) -> list:
    """Read crystals from CIF / extxyz files or folders into a list of ``ase.Atoms``.

    A folder written by :func:`write_structures` gives the one run its ``manifest.json`` names
    (other structure files there are ignored, with a warning); any other folder gives its
    ``*.cif`` files, or its ``*.extxyz`` / ``*.xyz`` files when it has no CIF. A file that
    cannot be parsed is skipped with one warning naming every such file and their count; when no
    file can be read at all, ``ValueError``.
    """
    import ase.io

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += _run_files(p)
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p} does not exist")
    atoms, broken = [], []
    for f in files:
        fmt = {".cif": "cif", ".extxyz": "extxyz", ".xyz": "extxyz"}.get(f.suffix.lower())
        if fmt is None:
            raise ValueError(f"{f}: unknown structure format (use .cif, .extxyz or .xyz)")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = ase.io.read(f, index=":", format=fmt)
        except Exception as err:  # noqa: BLE001 -- any parse failure: the file is reported
            why = f"{type(err).__name__}: {str(err)[:80]}" if str(err) else type(err).__name__
            broken.append(f"{f.name} ({why})")
            continue
        if not got:
            broken.append(f"{f.name} (no structure in it)")
        atoms += got
    if broken:
        listed = "; ".join(broken[:10]) + (" ..." if len(broken) > 10 else "")
        if not atoms:
            raise ValueError(f"could not read any structure from {len(files)} file(s): {listed}")
        warnings.warn(f"skipped {len(broken)} of {len(files)} structure file(s) that could not "
                      f"be read: {listed}", stacklevel=2)
    return atoms


# --------------------------------------------------------------------------- results zip

def _table_csv(table) -> str:
    import pandas as pd

    if not hasattr(table, "to_csv"):
        table = pd.DataFrame(table)
    return table.to_csv(index=False)


def _figure_files(figures) -> dict[str, bytes | str]:
    """Figure name -> file content. Plotly figures become HTML that loads one shared
    ``plotly.min.js`` beside them (works offline); matplotlib figures become PNG."""
    if figures is None:
        return {}
    if isinstance(figures, dict):
        items = list(figures.items())
    else:
        if hasattr(figures, "to_html") or hasattr(figures, "savefig"):
            figures = [figures]
        items = [(f"figure_{i:02d}", fig) for i, fig in enumerate(figures)]
    files: dict[str, bytes | str] = {}
    for name, fig in items:
        name = _safe_name(str(name))
        if hasattr(fig, "to_html"):  # plotly
            files[f"{name}.html"] = fig.to_html(include_plotlyjs="directory", full_html=True)
            if "plotly.min.js" not in files:
                from plotly.offline import get_plotlyjs
                files["plotly.min.js"] = get_plotlyjs()
        elif hasattr(fig, "savefig"):  # matplotlib
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=150, bbox_inches="tight")
            files[f"{name}.png"] = buf.getvalue()
        else:
            raise TypeError(f"figure {name!r} is a {type(fig).__name__}: "
                            "save_results takes plotly or matplotlib figures")
    return files


def save_results(path_zip: str | os.PathLike, structures=None, table=None, figures=None) -> Path:
    """Write a session's results into one zip and return its path.

    Layout: ``structures/000_<formula>.cif`` ... plus ``structures/structures.extxyz``,
    ``evaluation.csv`` (``table``: a pandas DataFrame, a list of row dicts or a dict of columns),
    ``figures/<name>.html`` (plotly, with one shared ``plotly.min.js``) or ``figures/<name>.png``
    (matplotlib), and a ``README.txt`` listing what is inside. ``structures`` are ``ase.Atoms``
    or pymatgen ``Structure``; ``figures`` a figure, a list of figures or a dict name -> figure.

    Never overwrites: when ``path_zip`` is taken the zip goes to the first free ``name-2.zip``,
    ..., claimed atomically (:func:`crystal_lab.paths.write_new`: two processes saving at once
    never share a name); the path returned is the one written. A folder that cannot be written
    is refused before the zip is built; a structure with NaN coordinates or masked ``X`` atoms
    refuses the save (``ValueError`` naming the row).
    """
    from crystal_lab import __version__
    from crystal_lab.structures import cif_text

    path_zip = Path(path_zip).expanduser()
    if path_zip.suffix.lower() != ".zip":
        path_zip = path_zip.with_name(path_zip.name + ".zip")
    check_file(path_zip, next_free=True)         # before the work: a folder it can be written to
    atoms_list = _as_atoms_list(structures)
    members: dict[str, bytes | str] = {}
    for name, atoms in zip(structure_file_names(atoms_list), atoms_list, strict=True):
        members[f"structures/{name}"] = cif_text(atoms)
    if atoms_list:
        members["structures/structures.extxyz"] = _extxyz_text(atoms_list)
    if table is not None:
        members["evaluation.csv"] = _table_csv(table)
    for name, content in _figure_files(figures).items():
        members[f"figures/{name}"] = content
    if not members:
        raise ValueError("nothing to save: pass structures, a table or figures")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    members["README.txt"] = (f"crystal_lab {__version__} results, saved {stamp}\n"
                             f"{len(atoms_list)} structure(s)\n\n"
                             + "\n".join(sorted(members)) + "\n")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(members):
            zf.writestr(name, members[name])
    return write_new(path_zip, buf.getvalue())    # claims the name: two savers never share one
