"""inpaint.atomic: a file or folder appears whole or not at all; a killed run's temporaries are swept."""
import numpy as np
import pytest

from inpaint.atomic import atomic_dir, atomic_path, remove_stale_temps, write_png


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_dir_replaces_whole_folder_only_on_success(tmp_path):
    out = tmp_path / "masks"
    with atomic_dir(out) as tmp:
        write_png(tmp / "a.png", np.ones((2, 2), np.float32))
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            write_png(tmp / "b.png", np.ones((2, 2), np.float32))
            raise RuntimeError("boom")
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["masks"]
    with atomic_dir(out) as tmp:
        write_png(tmp / "c.png", np.ones((2, 2), np.float32))
    assert sorted(p.name for p in out.iterdir()) == ["c.png"]
    assert (out.stat().st_mode & 0o777) != 0o700  # not left private like mkdtemp's folders


def test_remove_stale_temps_only_touches_atomic_leftovers(tmp_path):
    (tmp_path / ".last.pt.abc123.tmp.pt").write_bytes(b"half")
    (tmp_path / "last.pt").write_bytes(b"whole")
    removed = remove_stale_temps(tmp_path)
    assert [p.name for p in removed] == [".last.pt.abc123.tmp.pt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_atomic_dir_removes_the_temporary_folders_of_a_killed_run(tmp_path):
    from inpaint.atomic import atomic_dir

    stale = tmp_path / ".masks.k1ll3d"  # what a run killed mid-write leaves beside its output
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "big.png").write_bytes(b"x" * 100)
    other = tmp_path / ".other.abc"  # another output's: left alone
    other.mkdir()
    with atomic_dir(tmp_path / "masks") as tmp:
        (tmp / "a.txt").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.abc", "masks"]
    assert (tmp_path / "masks" / "a.txt").read_text() == "new"


def test_staged_into_replaces_what_it_wrote_only_on_success(tmp_path):
    from inpaint.atomic import staged_into

    reports = tmp_path / "reports"
    (reports / "plots").mkdir(parents=True)
    (reports / "plots" / "old.png").write_text("old plot")
    (reports / "summary.md").write_text("last good")
    (reports / "recipe.md").write_text("not ours")
    with pytest.raises(RuntimeError):
        with staged_into(reports) as tmp:
            (tmp / "summary.md").write_text("half")
            raise RuntimeError("evaluation failed")
    assert (reports / "summary.md").read_text() == "last good" and (reports / "plots" / "old.png").exists()
    assert sorted(p.name for p in reports.iterdir()) == ["plots", "recipe.md", "summary.md"]  # no staging left
    (reports / ".staging.k1ll3d").mkdir()  # a killed run's
    with staged_into(reports) as tmp:
        (tmp / "plots").mkdir()
        (tmp / "plots" / "new.png").write_text("new plot")
        (tmp / "summary.md").write_text("new")
    assert sorted(p.name for p in reports.iterdir()) == ["plots", "recipe.md", "summary.md"]
    assert [p.name for p in (reports / "plots").iterdir()] == ["new.png"] and (reports / "summary.md").read_text() == "new"
    assert (reports / "recipe.md").read_text() == "not ours"
