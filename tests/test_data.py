import gzip
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import bulk

from crystal_lab import datasets as data
from crystal_lab.datasets import (
    CrystalBatch,
    DataFileError,
    DataNotFoundError,
    load_dataset,
    read_csv,
)
from crystal_lab.structures import to_atoms as structure_to_atoms
from crystal_lab.structures import to_structure as atoms_to_structure


@pytest.fixture(scope="module")
def shared_data():
    return Path(os.environ["CRYSTAL_LAB_DATA"])


@pytest.fixture(scope="module")
def mp20_test_rows():
    return load_dataset("mp_20", "test", limit=25)


def test_reads_cdvae_layout_with_properties(mp20_test_rows):
    atoms = mp20_test_rows[0]
    assert atoms.info["material_id"].startswith("mp-")
    assert isinstance(atoms.info["formation_energy_per_atom"], float)
    assert atoms.info["num_atoms"] == len(atoms)
    assert atoms.info["pretty_formula"]
    assert all(a.pbc.all() for a in mp20_test_rows)


def test_perov_reader_ignores_index_column():
    atoms = load_dataset("perov_5", "val", limit=3)
    assert all(len(a) == 5 for a in atoms)
    assert "" not in atoms[0].info and "heat_all" in atoms[0].info


def test_batch_round_trip_is_exact(mp20_test_rows):
    batch = CrystalBatch.from_atoms(mp20_test_rows)
    assert batch.lattice.shape == (25, 3, 3)
    assert batch.frac.shape == (sum(len(a) for a in mp20_test_rows), 3)
    assert float(batch.frac.min()) >= 0 and float(batch.frac.max()) < 1
    assert torch.equal(batch.num_atoms, torch.tensor([len(a) for a in mp20_test_rows]))
    back = batch.to_atoms()
    for a, b in zip(mp20_test_rows, back, strict=True):
        assert np.array_equal(a.numbers, b.numbers)
        assert np.array_equal(np.asarray(a.cell), np.asarray(b.cell))
        assert np.allclose(a.get_scaled_positions() % 1.0, b.get_scaled_positions(), atol=1e-12)
    again = CrystalBatch.from_atoms(back)
    assert torch.equal(again.lattice, batch.lattice) and torch.equal(again.numbers, batch.numbers)
    # Atoms store Cartesian positions, so fractional coordinates come back to float round-off
    assert torch.allclose(again.frac, batch.frac, rtol=0, atol=1e-12)


def test_padded_view(mp20_test_rows):
    batch = CrystalBatch.from_atoms(mp20_test_rows[:3])
    frac, numbers, mask = batch.padded()
    n = [len(a) for a in mp20_test_rows[:3]]
    assert frac.shape == (3, max(n), 3)
    assert mask.sum(1).tolist() == n
    assert numbers[mask].tolist() == batch.numbers.tolist()


def test_structure_conversions_accept_pymatgen():
    nacl = bulk("NaCl", "rocksalt", a=5.64)
    s = atoms_to_structure(nacl)
    assert s.composition.reduced_formula == "NaCl"
    back = structure_to_atoms(s)
    assert np.allclose(back.get_positions(), nacl.get_positions())
    assert len(CrystalBatch.from_atoms([s, nacl]).to_atoms()) == 2


# ------------------------------------------------------------------ cache / verify / offline

@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.delenv("CRYSTAL_LAB_DATA", raising=False)
    monkeypatch.setenv("CRYSTAL_LAB_CACHE", str(tmp_path / "cache"))
    return tmp_path


def _plain_csv(tmp_path, shared_data):
    src = tmp_path / "remote" / "val.csv"
    src.parent.mkdir()
    with gzip.open(shared_data / "perov_5" / "val.csv.gz", "rb") as fin, open(src, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    return src


def test_download_once_cache_and_verify(isolated, shared_data, monkeypatch):
    src = _plain_csv(isolated, shared_data)
    calls = []
    real = data.download
    monkeypatch.setattr(data, "download", lambda *a, **k: calls.append(a) or real(*a, **k))
    path = data.dataset_path("perov_5", "val", url=src.as_uri())
    assert (
        path == isolated / "cache" / "perov_5" / "val.csv" and path.read_bytes() == src.read_bytes()
    )
    assert len(calls) == 1
    # cached: no second download
    assert data.dataset_path("perov_5", "val", url=src.as_uri()) == path
    assert len(calls) == 1
    assert (isolated / "cache" / "sha256.json").exists()
    path.write_text("material_id,cif\n")                                      # corrupt the cache
    with pytest.raises(OSError, match="changed since it was downloaded"):
        data.dataset_path("perov_5", "val")


def test_download_refuses_wrong_checksum(isolated, shared_data):
    src = _plain_csv(isolated, shared_data)
    with pytest.raises(OSError, match="sha256 mismatch"):
        data.download(src.as_uri(), isolated / "x.csv", sha256="0" * 64, progress=False)
    assert not (isolated / "x.csv").exists()


def test_offline_error_says_where_to_put_the_file(isolated):
    missing = (isolated / "nowhere" / "val.csv").as_uri()
    with pytest.raises(DataNotFoundError) as err:
        data.dataset_path("mp_20", "train", url=missing)
    msg = str(err.value)
    assert "mp_20/train is not available offline" in msg
    assert str(isolated / "cache" / "mp_20" / "train.csv") in msg and "CRYSTAL_LAB_DATA" in msg


def test_env_var_takes_precedence(shared_data, monkeypatch, tmp_path):
    monkeypatch.setenv("CRYSTAL_LAB_DATA", str(shared_data))
    monkeypatch.setenv("CRYSTAL_LAB_CACHE", str(tmp_path))
    assert data.dataset_path("carbon_24", "test") == shared_data / "carbon_24" / "test.csv.gz"


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown data set"):
        data.dataset_path("mp_21", "val")
    with pytest.raises(ValueError, match="unknown split"):
        data.dataset_path("mp_20", "dev")


# ---------------------------------------------------------------- broken data files
@pytest.fixture(scope="module")
def small_csv(shared_data):
    """The first 6 rows of MP-20 test as plain CSV text (a temporary copy, never committed)."""
    import csv
    import io

    with gzip.open(shared_data / "mp_20" / "test.csv.gz", "rt", newline="") as fh:
        rows = [row for _, row in zip(range(7), csv.reader(fh), strict=False)]
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    assert buf.getvalue().count("data_") >= 6
    return buf.getvalue()


def _broken(tmp_path, small_csv) -> dict:
    good_gz = gzip.compress(small_csv.encode())
    flipped = bytearray(good_gz)
    for i in range(40, 60):
        flipped[i] ^= 0x5A
    header, *_ = small_csv.split("\n", 1)
    return {
        "flipped.csv.gz": (bytes(flipped), "gzip|truncated|row"),
        "plain.csv.gz": (small_csv.encode(), "not a valid gzip file"),
        "cut.csv.gz": (good_gz[: len(good_gz) // 2], "truncated"),
        "cut.csv": (small_csv[: len(small_csv) // 2].encode(), "truncated"),
        "nocif.csv": (small_csv.replace("cif", "structure", 1).encode(), "no 'cif' column"),
        "empty.csv": (b"", "the file is empty"), "zipped.csv": (good_gz, "not a text file"),
        "badcif.csv": (f"{header}\n".encode() + b",".join([b"x"] * len(header.split(","))) + b"\n",
                       "row 2: its CIF does not parse"),
    }


def test_broken_data_files_name_the_file_and_the_problem(tmp_path, small_csv):
    assert len(read_csv(_write(tmp_path / "good.csv", small_csv.encode()))) == 6
    for name, (content, message) in _broken(tmp_path, small_csv).items():
        path = _write(tmp_path / name, content)
        with pytest.raises(DataFileError) as err:
            read_csv(path)
        text = str(err.value)
        assert str(path) in text and "\n" not in text, text
        assert re.search(message, text), (name, text)


def test_load_dataset_on_a_broken_file_names_it(tmp_path, small_csv, monkeypatch):
    (tmp_path / "mp_20").mkdir()
    path = _write(tmp_path / "mp_20" / "test.csv.gz", gzip.compress(small_csv.encode())[:-30])
    monkeypatch.setenv("CRYSTAL_LAB_DATA", str(tmp_path))
    with pytest.raises(DataFileError, match=re.escape(str(path))):
        load_dataset("mp_20", "test", download_missing=False)


def _write(path, content: bytes):
    path.write_bytes(content)
    return path


def test_reading_shows_a_bar_that_ends_cleanly(tmp_path, small_csv, capsys):
    """``progress=True``: a bar counts the crystals against the expected total; it is closed and
    cleared (not left half-filled) when the reading stops at ``limit``."""
    from tqdm import tqdm

    path = _write(tmp_path / "rows.csv", small_csv.encode())
    quiet = read_csv(path, limit=4)
    assert capsys.readouterr().err == ""
    shown = read_csv(path, limit=4, progress=True, total=6)
    err = capsys.readouterr().err
    assert "reading rows.csv" in err and "/4" in err          # the bar, out of limit rows
    assert [a.info["material_id"] for a in shown] == [a.info["material_id"] for a in quiet]
    assert not list(tqdm._instances)                          # closed, none left running
    read_csv(path, progress=True, total=6)
    err = capsys.readouterr().err
    assert "/6 " in err and err.endswith("\r")                  # out of all rows, then cleared


@pytest.mark.parametrize("kwargs, error, message", [
    ({"limit": -1}, ValueError, r"limit must be a whole number >= 1 \(or None for all\), got -1"),
    ({"limit": 0}, ValueError, "limit must be a whole number >= 1"),
    ({"limit": 2.5}, TypeError, "limit must be a whole number >= 1 .*got 2.5"),
    ({"limit": "3"}, TypeError, "limit must be a whole number >= 1 .*got '3'"),
    ({"limit": True}, TypeError, "limit must be a whole number"),
    ({"limit": 3, "seed": -1}, ValueError,
     r"seed must be a whole number in \[0, 9223372036854775807\]"),
    ({"limit": 3, "seed": 1.5}, TypeError, "seed must be a whole number"),
    ({"limit": 3, "seed": 2**64}, ValueError, "seed must be a whole number in"),
])
def test_bad_limits_and_seeds_are_refused_before_the_file_is_read(monkeypatch, kwargs, error,
                                                                  message):
    """One line each, before any slow parsing (the file is never looked up)."""
    monkeypatch.setattr(data, "dataset_path", lambda *a, **k: pytest.fail("the file was looked up"))
    with pytest.raises(error, match=message) as err:
        load_dataset("mp_20", "train", **kwargs)
    assert "\n" not in str(err.value)


def test_read_csv_refuses_a_bad_limit(tmp_path):
    with pytest.raises(ValueError, match="limit must be a whole number >= 1"):
        read_csv(tmp_path / "missing.csv", limit=-1)
    assert len(load_dataset("perov_5", "val", limit=np.int64(2))) == 2
