import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import bulk

from crystal_lab import data
from crystal_lab.data import (
    CrystalBatch,
    DataNotFoundError,
    atoms_to_structure,
    load_dataset,
    structure_to_atoms,
)


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
    for a, b in zip(mp20_test_rows, back):
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
    assert path == isolated / "cache" / "perov_5" / "val.csv" and path.read_bytes() == src.read_bytes()
    assert len(calls) == 1
    assert data.dataset_path("perov_5", "val", url=src.as_uri()) == path   # cached: no second download
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
