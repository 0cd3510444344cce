"""Atomic sets of files: a new generation becomes current in one switch, or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.generations import CURRENT, current, new_generation, reuse


def write_set(root: Path, text: str) -> Path:
    with new_generation(root) as folder:
        for name in ("a.txt", "b.txt"):
            (folder / name).write_text(text)
    return folder


def test_a_written_set_becomes_current_and_two_generations_are_kept(tmp_path: Path) -> None:
    root = tmp_path / "clean"
    first = write_set(root, "one")
    second = write_set(root, "two")
    assert (current(root) / "a.txt").read_text() == "two" and current(root).resolve() == second.resolve()
    third = write_set(root, "three")
    # the previous generation stays for readers that started on it; the one before goes
    assert sorted(p.name for p in root.iterdir()) == sorted([CURRENT, second.name, third.name])
    assert not first.exists()


def test_a_failed_write_leaves_the_old_set_current(tmp_path: Path) -> None:
    root = tmp_path / "clean"
    write_set(root, "old")

    def half_written() -> None:
        with new_generation(root) as folder:
            (folder / "a.txt").write_text("new")
            raise RuntimeError("stopped half way")

    with pytest.raises(RuntimeError):
        half_written()
    assert [(current(root) / n).read_text() for n in ("a.txt", "b.txt")] == ["old", "old"]
    assert len(list(root.glob("gen-*"))) == 1  # the failed generation was removed


def test_loose_files_of_the_older_layout_are_read_until_the_first_switch(tmp_path: Path) -> None:
    root = tmp_path / "clean"
    root.mkdir()
    (root / "a.txt").write_text("loose")
    assert current(root) == root
    write_set(root, "new")
    assert not (root / "a.txt").exists() and (current(root) / "a.txt").read_text() == "new"


def test_a_generation_left_by_a_killed_writer_is_ignored_then_removed(tmp_path: Path) -> None:
    root = tmp_path / "clean"
    write_set(root, "old")
    half = root / "gen-killed"
    half.mkdir()
    (half / "a.txt").write_text("half")
    assert (current(root) / "a.txt").read_text() == "old"
    write_set(root, "new")
    assert not half.exists()


def test_an_unchanged_file_is_reused_without_a_copy(tmp_path: Path) -> None:
    source = tmp_path / "old" / "x.parquet"
    source.parent.mkdir()
    source.write_bytes(b"data")
    target = tmp_path / "new" / "t" / "x.parquet"
    reuse(source, target)
    assert target.read_bytes() == b"data" and target.stat().st_ino == source.stat().st_ino
