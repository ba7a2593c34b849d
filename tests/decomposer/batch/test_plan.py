"""Planning: folders stream one directory at a time; collisions name both files; globs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from decomposer.batch.jobs import Job
from decomposer.batch.journal import JOURNAL_NAME, Journal
from decomposer.batch.plan import Plan
from decomposer.errors import InvalidOptionError


def test_a_folder_streams_one_directory_at_a_time_and_mirrors_the_tree(
    tmp_path: Path, art: Callable[..., Path]
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    art(src / "a" / "one.png", 1)
    art(src / "b" / "two.jpg", 2)
    (src / "b" / "notes.txt").write_text("not an image")
    (src / ".hidden.png").write_bytes(b"skipped")
    (src / "c").mkdir()
    jobs = iter(Plan((str(src),), out, "psd"))
    first = next(jobs)
    assert (first.job.source, first.job.output) == (src / "a" / "one.png", out / "a" / "one.psd")
    # A directory not reached yet is listed only when the plan gets there: a file added to it
    # now is still planned.
    art(src / "c" / "three.png", 3)
    rest = [(p.job.source, p.job.output, p.conflict) for p in jobs]
    assert rest == [
        (src / "b" / "two.jpg", out / "b" / "two.psd", None),
        (src / "c" / "three.png", out / "c" / "three.psd", None),
    ]


def test_collisions_name_both_files_and_the_survey_counts_them(
    tmp_path: Path, art: Callable[..., Path]
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    art(src / "a.jpg", 1)
    art(src / "a.png", 2)
    art(src / "b.png", 3)
    plan = Plan((str(src),), out, "ora")
    planned = list(plan)
    assert [p.conflict for p in planned] == [
        None,
        f"{src / 'a.png'}: output {out / 'a.ora'} is also the output of {src / 'a.jpg'}",
        None,
    ]
    survey = plan.survey()
    assert (survey.total, survey.conflict_count) == (3, 1)
    assert survey.conflicts == [planned[1].conflict]


def test_several_arguments_collide_across_folders_and_duplicates_are_dropped(
    tmp_path: Path, art: Callable[..., Path]
) -> None:
    art(tmp_path / "x" / "art.png", 1)
    art(tmp_path / "y" / "art.png", 2)
    one = str(tmp_path / "x" / "art.png")
    plan = Plan((one, str(tmp_path / "y"), one), tmp_path / "out", "psd")
    planned = list(plan)
    assert len(planned) == 2  # the same file given twice is planned once
    assert planned[0].conflict is None
    assert planned[1].conflict is not None and "also the output of" in planned[1].conflict


def test_globs_outputs_inside_the_input_and_journal_folder(
    tmp_path: Path, art: Callable[..., Path]
) -> None:
    src = tmp_path / "in"
    art(src / "a.png", 1)
    art(src / "sub" / "b.png", 2)
    art(src / "out" / "old.png", 3)  # the output folder itself lies inside the input
    plan = Plan((str(src),), src / "out", "psd")
    assert [p.job.source.name for p in plan] == ["a.png", "b.png"]
    globbed = Plan((f"{src}/**/*.png",), tmp_path / "o", "psd")
    assert sorted(str(p.job.output.relative_to(tmp_path / "o")) for p in globbed) == [
        "a.psd", "out/old.psd", "sub/b.psd"
    ]  # fmt: skip
    assert Plan((str(src),), None, "psd").journal_folder() == src.resolve()
    assert Plan((str(src / "a.png"), str(src / "sub")), None, "psd").journal_folder() == (
        src.resolve()
    )
    assert Plan((str(src),), tmp_path / "o", "psd").journal_folder() == tmp_path / "o"


def test_output_that_is_its_input_is_a_conflict(tmp_path: Path, art: Callable[..., Path]) -> None:
    art(tmp_path / "art.png", 1)
    (tmp_path / "art.psd").write_bytes((tmp_path / "art.png").read_bytes())
    (planned,) = list(Plan((str(tmp_path / "art.psd"),), None, "psd"))
    assert planned.conflict is not None and "overwrite the input" in planned.conflict


def test_check_names_missing_arguments_and_empty_patterns(tmp_path: Path) -> None:
    with pytest.raises(InvalidOptionError, match=r"nope: no such file or folder"):
        Plan((str(tmp_path / "nope"),), None, "psd").check()
    with pytest.raises(InvalidOptionError, match="matches no image files"):
        Plan((f"{tmp_path}/*.png",), None, "psd").check()


def test_files_the_journal_records_as_outputs_are_not_inputs(
    tmp_path: Path, art: Callable[..., Path]
) -> None:
    art(tmp_path / "a.png", 1)
    art(tmp_path / "sub" / "b.png", 2)
    ours = {tmp_path / "a.svg", tmp_path / "sub" / "b.svg"}  # an earlier run's outputs
    for path in ours:
        path.write_text("<svg xmlns='http://www.w3.org/2000/svg' width='4' height='4'/>")
    (tmp_path / "c.svg").write_text(
        "<svg xmlns='http://www.w3.org/2000/svg' width='4' height='4'/>"
    )
    journal = Journal(tmp_path / JOURNAL_NAME)
    for output in ours:
        journal.claim(Job(output.with_suffix(".png"), output))

    def sources(*arguments: str) -> list[str]:
        plan = Plan(arguments, None, "svg", own_outputs=journal.wrote)
        return [str(p.job.source.relative_to(tmp_path)) for p in plan if p.conflict is None]

    assert Journal(tmp_path / JOURNAL_NAME).wrote(tmp_path / "sub" / ".." / "a.svg")
    assert sources(str(tmp_path)) == ["a.png", "sub/b.png"]  # the user's c.svg conflicts
    assert sources(f"{tmp_path}/**/*.svg") == []
    assert [p.job.source.name for p in Plan((f"{tmp_path}/**/*.svg",), None, "psd")] == [
        "a.svg", "c.svg", "b.svg"
    ]  # fmt: skip
    assert len(sources(f"{tmp_path}/**/*")) == 2
    # a file named as an argument is an input even when it is one of ours
    named = Plan((str(tmp_path / "a.svg"),), tmp_path / "out", "psd", own_outputs=journal.wrote)
    assert [p.job.source.name for p in named] == ["a.svg"]
