"""Crystal data: the CDVAE CSV files, a registry of public data sets, and model batches.

Three ideas live here:

* reading the CDVAE layout (one row per crystal, a P1 CIF in ``cif``, property columns beside it)
  into ``ase.Atoms`` with the properties kept in ``atoms.info``;
* finding a data set on disk: ``$CRYSTAL_LAB_DATA/<name>/<split>.csv[.gz]`` first, then a download
  cache (``~/.cache/crystal_lab``), downloading once from the CDVAE repository;
* :class:`CrystalBatch`, the flat tensors the model works on (lattice, fractional coordinates,
  atomic numbers, batch index), with an exact round trip to and from ``ase.Atoms``.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import shutil
import tempfile
import urllib.request
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from .arguments import MAX_SEED, check_number
from .structures import to_atoms

CDVAE_URL = "https://raw.githubusercontent.com/txie-93/cdvae/main/data/{name}/{split}.csv"

#: The public data sets (CDVAE splits). What is checked is trust on first download: CDVAE
#: publishes no hashes, so the first download of a split is taken as it comes, its sha256 is
#: recorded in ``<cache>/sha256.json``, and every later read of the cached file is checked against
#: that record (a truncated or altered file is caught; a wrong first download is not). Files in
#: ``$CRYSTAL_LAB_DATA`` are the user's own and are read unchecked.
DATASETS: dict[str, dict] = {
    "mp_20": {"splits": {"train": 27136, "val": 9047, "test": 9046}, "max_atoms": 20,
              "source": "Materials Project via CDVAE (CC-BY-4.0)"},
    "perov_5": {"splits": {"train": 11356, "val": 3787, "test": 3785}, "max_atoms": 5,
                "source": "Castelli et al. perovskites via CDVAE"},
    "carbon_24": {"splits": {"train": 6091, "val": 2032, "test": 2030}, "max_atoms": 24,
                  "source": "Pickard AIRSS carbon via CDVAE"},
}


class DataNotFoundError(FileNotFoundError):
    """A data set is neither in ``$CRYSTAL_LAB_DATA``, nor cached, nor downloadable."""


class DataFileError(ValueError):
    """A data file that cannot be read: the message names the file (and row) and what is wrong."""


# --------------------------------------------------------------------------- reading

def _parse_value(text: str):
    if text == "" or text.lower() == "nan":
        return float("nan") if text else None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text[:1] == "[":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text


def cif_to_atoms(cif: str) -> Atoms:
    """A CIF string (one structure) as ``ase.Atoms``, read with pymatgen's CIF parser."""
    from pymatgen.io.cif import CifParser

    structure = CifParser.from_str(cif).parse_structures(primitive=False, on_error="raise")[0]
    return to_atoms(structure)


def _rows(reader, progress: bool, total: int | None, desc: str):
    """The CSV rows, counted by a tqdm bar (closed, not red, when the reading stops early; in a
    notebook its finished widget is hidden, not closed: :mod:`crystal_lab.progress`)."""
    from .progress import tqdm

    with tqdm(reader, total=total, desc=desc, unit=" crystals", disable=not progress,
              leave=False) as bar:
        yield from bar


def read_csv(path: str | os.PathLike, limit: int | None = None, progress: bool = False,
             total: int | None = None) -> list[Atoms]:
    """Read a CDVAE-layout CSV (plain or ``.gz``) into a list of ``ase.Atoms``.

    Every column except ``cif`` (and a nameless pandas index column) goes into ``atoms.info``.
    A file that is not gzip (or plain text) as its name says, is truncated, has no ``cif`` column
    or holds a CIF that does not parse is a :class:`DataFileError` naming the file and the row.
    ``progress``: a progress bar over the rows (``total``: how many to expect), for reads that
    take seconds (MP-20 val parses about 500 CIFs a second on one core).
    """
    limit = check_number("limit", limit, integer=True, minimum=1, allow_none=True,
                         note=" (or None for all)")
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such file")
    opener = gzip.open if path.suffix == ".gz" else open
    out = []
    row_number = 1   # the header is row 1
    try:
        with opener(path, "rt", newline="", encoding="utf-8") as fh, warnings.catch_warnings():
            # pymatgen warns once per noble gas that it has no Pauling electronegativity: not our
            # concern
            warnings.filterwarnings("ignore", message="No Pauling electronegativity")
            reader = csv.DictReader(fh, strict=True)
            if reader.fieldnames is None:
                raise DataFileError(f"{path}: the file is empty (a CDVAE CSV has a header with a "
                                    "cif column)")
            if "cif" not in reader.fieldnames:
                raise DataFileError(f"{path}: no 'cif' column (columns: "
                                    f"{', '.join(reader.fieldnames)[:200]})")
            bounds = [x for x in (total, limit) if x is not None]
            rows = _rows(reader, progress, min(bounds) if bounds else None, f"reading {path.name}")
            for row_number, row in enumerate(rows, start=2):
                if limit is not None and len(out) >= limit:
                    rows.close()
                    break
                out.append(_row_to_atoms(row, path, row_number))
    except (gzip.BadGzipFile, zlib.error) as err:
        raise DataFileError(f"{path}: not a valid gzip file, or its compressed data are corrupt "
                            f"({err})") from None
    except EOFError:
        raise DataFileError(f"{path}: the file is truncated (it ends inside its compressed data, "
                            f"after row {row_number})") from None
    except csv.Error as err:
        raise DataFileError(f"{path}, row {row_number + 1}: not valid CSV ({err}); the file may be "
                            f"truncated") from None
    except UnicodeDecodeError:
        raise DataFileError(f"{path}: not a text file (a gzip file must end in .gz)") from None
    return out


def _row_to_atoms(row: dict, path: Path, row_number: int) -> Atoms:
    cif = row.pop("cif")
    if None in row or cif is None:
        raise DataFileError(f"{path}, row {row_number}: the row has a different number of fields "
                            "than the header; the file may be truncated")
    try:
        atoms = cif_to_atoms(cif)
    except Exception as err:  # noqa: BLE001 - pymatgen's CIF parser raises many kinds of error
        raise DataFileError(f"{path}, row {row_number}: its CIF does not parse "
                            f"({type(err).__name__}: "
                            f"{str(err).splitlines()[0][:120] if str(err) else ''}); "
                            f"the file may be truncated or damaged") from None
    atoms.info.update({k: _parse_value(v) for k, v in row.items() if k})
    return atoms


# --------------------------------------------------------------------------- the registry

def data_dir() -> Path | None:
    """The directory named by ``$CRYSTAL_LAB_DATA``, if set."""
    value = os.environ.get("CRYSTAL_LAB_DATA")
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Where downloads are kept: ``$CRYSTAL_LAB_CACHE`` or ``~/.cache/crystal_lab``."""
    return Path(os.environ.get("CRYSTAL_LAB_CACHE", "~/.cache/crystal_lab")).expanduser()


def sha256sum(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: str | os.PathLike, sha256: str | None = None,
             progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` once (atomic rename), with a tqdm bar and a sha256 check."""
    from tqdm.auto import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(url, timeout=60) as resp:
        total = int(resp.headers.get("Content-Length") or 0) or None
        with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp, \
                tqdm(total=total, unit="B", unit_scale=True, desc=dest.name,
                     disable=not progress) as bar:
            for chunk in iter(lambda: resp.read(1 << 16), b""):
                tmp.write(chunk)
                bar.update(len(chunk))
    got = sha256sum(tmp.name)
    if sha256 is not None and got != sha256:
        os.unlink(tmp.name)
        raise OSError(f"sha256 mismatch for {url}: expected {sha256}, got {got}")
    shutil.move(tmp.name, dest)
    return dest


def _verify_cached(name: str, split: str, path: Path) -> None:
    """Check a cached download against the sha256 recorded at its first download (or record it)."""
    record = path.parent.parent / "sha256.json"
    known = json.loads(record.read_text()) if record.exists() else {}
    key = f"{name}/{split}"
    expected = known.get(key)
    got = sha256sum(path)
    if expected is None:
        known[key] = got
        record.write_text(json.dumps(known, indent=1, sort_keys=True))
    elif got != expected:
        raise OSError(f"{path} changed since it was downloaded (sha256 {got[:12]}..., recorded "
                      f"{expected[:12]}...): delete it to download again")


def dataset_path(name: str, split: str, download_missing: bool = True,
                 url: str | None = None) -> Path:
    """Find (or download once) ``<name>/<split>.csv``; see the module docstring for the order."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose from {sorted(DATASETS)}")
    if split not in DATASETS[name]["splits"]:
        raise ValueError(f"unknown split {split!r} of {name}; choose from "
                         f"{list(DATASETS[name]['splits'])}")
    candidates = []
    if data_dir() is not None:
        candidates += [data_dir() / name / f"{split}.csv.gz", data_dir() / name / f"{split}.csv"]
    cached = cache_dir() / name / f"{split}.csv"
    candidates.append(cached)
    for path in candidates:
        if path.exists():
            if path == cached:
                _verify_cached(name, split, path)
            return path
    url = url or CDVAE_URL.format(name=name, split=split)
    if download_missing:
        try:
            download(url, cached)
            _verify_cached(name, split, cached)
            return cached
        except OSError as err:  # URLError is an OSError: offline, DNS, 403 ...
            reason = f" ({err})"
    else:
        reason = ""
    where = f"{data_dir() / name / (split + '.csv')} or " if data_dir() else ""
    raise DataNotFoundError(
        f"{name}/{split} is not available offline{reason}: put {split}.csv from {url} at "
        f"{where}{cached}, or set CRYSTAL_LAB_DATA to a folder holding {name}/{split}.csv[.gz]")


def load_dataset(name: str, split: str, limit: int | None = None, seed: int | None = None,
                 download_missing: bool = True, progress: bool = False) -> list[Atoms]:
    """Load a public data set split as ``list[ase.Atoms]`` (properties in ``atoms.info``).

    ``limit`` keeps the first ``limit`` rows, or a random subset of that size when ``seed`` is
    given: a whole number >= 1 (or None for all) and a seed in numpy's range, both checked before
    the file is read (``ValueError`` / ``TypeError``, one line). ``progress``: a progress bar while
    the CIFs are parsed (a whole MP-20 split takes 15-20 s).
    """
    limit = check_number("limit", limit, integer=True, minimum=1, allow_none=True,
                         note=" (or None for all)")
    seed = check_number("seed", seed, integer=True, minimum=0, maximum=MAX_SEED, allow_none=True)
    path = dataset_path(name, split, download_missing=download_missing)
    total = DATASETS.get(name, {}).get("splits", {}).get(split)
    if seed is None or limit is None:
        return read_csv(path, limit=limit, progress=progress, total=total)
    rows = read_csv(path, progress=progress, total=total)
    return [rows[i] for i in random_subset(len(rows), limit, seed)]


def random_subset(n_rows: int, limit: int, seed: int) -> list[int]:
    """The rows (positions, in file order) that ``load_dataset(..., limit, seed)`` keeps of a split
    of ``n_rows``: ``limit`` of them drawn without replacement by ``numpy.random.default_rng(seed)``
    (all when ``limit >= n_rows``)."""
    pick = np.random.default_rng(seed).choice(n_rows, size=min(limit, n_rows), replace=False)
    return sorted(int(i) for i in pick)


# --------------------------------------------------------------------------- model batches

@dataclass
class CrystalBatch:
    """Crystals as flat tensors: the model's view of a list of ``ase.Atoms``.

    ``lattice`` (B, 3, 3) rows are lattice vectors in Angstrom (ASE convention);
    ``frac`` (N, 3) fractional coordinates in [0, 1); ``numbers`` (N,) atomic numbers;
    ``batch`` (N,) which crystal each atom belongs to.
    """

    lattice: torch.Tensor  # noqa: F821
    frac: torch.Tensor  # noqa: F821
    numbers: torch.Tensor  # noqa: F821
    batch: torch.Tensor  # noqa: F821

    @property
    def num_crystals(self) -> int:
        return self.lattice.shape[0]

    @property
    def num_atoms(self):
        import torch

        return torch.bincount(self.batch, minlength=self.num_crystals)

    @classmethod
    def from_atoms(cls, structures, dtype=None, device=None) -> CrystalBatch:
        import torch

        dtype = dtype or torch.float64
        structures = [to_atoms(s) for s in structures]
        lattice = np.stack([np.asarray(a.cell, dtype=float) for a in structures])
        frac = np.concatenate([a.get_scaled_positions(wrap=True) for a in structures]) % 1.0
        numbers = np.concatenate([a.numbers for a in structures])
        batch = np.repeat(np.arange(len(structures)), [len(a) for a in structures])
        t = lambda x, d: torch.as_tensor(x, dtype=d, device=device)
        return cls(t(lattice, dtype), t(frac, dtype), t(numbers, torch.long), t(batch, torch.long))

    def to(self, device=None, dtype=None) -> CrystalBatch:
        return CrystalBatch(self.lattice.to(device, dtype), self.frac.to(device, dtype),
                            self.numbers.to(device), self.batch.to(device))

    def to_atoms(self) -> list[Atoms]:
        lattice = self.lattice.detach().cpu().double().numpy()
        frac = self.frac.detach().cpu().double().numpy()
        numbers = self.numbers.detach().cpu().numpy()
        batch = self.batch.detach().cpu().numpy()
        return [Atoms(numbers=numbers[batch == i], cell=lattice[i],
                      scaled_positions=frac[batch == i], pbc=True)
                for i in range(self.num_crystals)]

    def padded(self):
        """Dense views ``(frac (B,N,3), numbers (B,N), mask (B,N))``, padded to the largest."""
        import torch

        counts = self.num_atoms
        n_max = int(counts.max()) if len(counts) else 0
        index = torch.arange(len(self.batch), device=self.batch.device)
        start = torch.cumsum(counts, 0) - counts
        slot = index - start[self.batch]
        b = self.num_crystals
        frac = self.frac.new_zeros(b, n_max, 3)
        numbers = self.numbers.new_zeros(b, n_max)
        mask = torch.zeros(b, n_max, dtype=torch.bool, device=self.batch.device)
        frac[self.batch, slot] = self.frac
        numbers[self.batch, slot] = self.numbers
        mask[self.batch, slot] = True
        return frac, numbers, mask

