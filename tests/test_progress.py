"""A finished progress bar in a notebook is hidden, not closed: a closed widget leaves "Error
displaying widget: model not found" in its saved output after a reload or a reopen."""
import tqdm.auto
import tqdm.notebook

from crystal_lab.progress import tqdm as bar_of


def _shown(bar) -> bool:
    return bar.container.layout.display != "none"


def test_a_finished_transient_bar_keeps_its_widget_and_hides_it():
    bar = bar_of(total=3, leave=False, notebook=True, desc="sampling")
    bar.update(3)
    bar.close()
    assert bar.container.comm is not None          # tqdm alone closes it (comm gone)
    assert not _shown(bar)
    assert bar.container.children[1].bar_style == "success"


def test_plain_tqdm_closes_the_widget_this_module_avoids():
    bar = tqdm.notebook.tqdm(total=2, leave=False)
    bar.update(2)
    bar.close()
    assert bar.container.comm is None               # what the module exists for


def test_a_bar_that_ends_short_stays_in_sight_and_red():
    bar = bar_of(total=3, leave=False, notebook=True)
    bar.update(1)
    bar.close()
    assert _shown(bar) and bar.container.children[1].bar_style == "danger"


def test_a_kept_bar_is_left_as_tqdm_leaves_it():
    bar = bar_of(total=2, notebook=True)
    bar.update(2)
    bar.close()
    assert _shown(bar) and bar.container.comm is not None


def test_outside_a_notebook_the_text_bar(capsys):
    bar = bar_of(range(3), leave=False, notebook=False, desc="reading")
    assert list(bar) == [0, 1, 2]
    assert not isinstance(bar, tqdm.notebook.tqdm)


def test_the_evaluation_and_dataset_bars_use_it(monkeypatch, tmp_path):
    from crystal_lab.datasets import read_csv
    from crystal_lab.evaluate.settings import progress_bar

    made = []

    class Recording(tqdm.notebook.tqdm):       # tqdm.auto's class as a kernel has it
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(tqdm.auto, "tqdm", Recording)
    assert list(progress_bar(range(4), True, "matching")) == [0, 1, 2, 3]
    path = tmp_path / "tiny.csv"
    path.write_text('material_id,cif\nx,"data_x\n_cell_length_a 3\n_cell_length_b 3\n'
                    '_cell_length_c 3\n_cell_angle_alpha 90\n_cell_angle_beta 90\n'
                    '_cell_angle_gamma 90\n_symmetry_space_group_name_H-M \'P 1\'\n'
                    'loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n'
                    '_atom_site_fract_y\n_atom_site_fract_z\nNa1 Na 0 0 0\n"\n')
    assert len(read_csv(path, progress=True, total=1)) == 1
    assert len(made) == 2
    for bar in made:
        assert bar.container.comm is not None and not _shown(bar)


def test_a_status_line_says_what_runs_then_how_long_it_took(capsys):
    import pytest

    from crystal_lab.progress import status

    with status("loading the model"):
        assert capsys.readouterr().out == "loading the model ..."   # at once, before the step
    out = capsys.readouterr().out
    assert out.startswith("\rloading the model: done in ") and out.rstrip().endswith(" s")
    with pytest.raises(KeyError), status("importing"):
        raise KeyError("x")
    assert "importing: stopped after" in capsys.readouterr().out
    with status("quiet", show=False):
        pass
    assert capsys.readouterr().out == ""
