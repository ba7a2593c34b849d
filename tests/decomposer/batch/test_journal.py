"""The journal decides skip / run / refuse: only outputs this tool wrote may be replaced."""

from __future__ import annotations

import json
import os
from pathlib import Path

from decomposer.batch.fingerprint import file_sha256, file_stat
from decomposer.batch.jobs import DONE, FileResult, Job, RunOptions
from decomposer.batch.journal import JOURNAL_NAME, REFUSE, RUN, SKIP, Journal, resume_key
from decomposer.options import DecomposeOptions

OPTIONS = RunOptions()
MODEL = "fingerprint-1"


def finish(journal: Journal, job: Job, content: bytes = b"layered") -> None:
    """What the runner does after a worker wrote `job`'s output: record it as done."""
    job.output.parent.mkdir(parents=True, exist_ok=True)
    job.output.write_bytes(content)
    sha = file_sha256(job.source)
    result = FileResult.for_job(job, DONE, layers=3, input_sha256=sha,
                                input_stat=file_stat(job.source))  # fmt: skip
    journal.record(job, result, OPTIONS, MODEL)


def make_job(tmp_path: Path, name: str = "a") -> Job:
    source = tmp_path / "in" / f"{name}.png"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(f"pixels of {name}".encode())
    return Job(source, tmp_path / "out" / f"{name}.psd")


def decide(journal: Journal, job: Job, **flags: bool) -> tuple[str, bool]:
    decision = journal.decide(job, OPTIONS, MODEL, **flags)
    return decision.action, decision.replace


def test_done_outputs_are_skipped_and_survive_a_reload(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "out" / JOURNAL_NAME)
    job = make_job(tmp_path)
    assert decide(journal, job) == (RUN, False)
    finish(journal, job)
    assert decide(journal, job) == (SKIP, False)
    again = Journal(journal.path)
    assert decide(again, job) == (SKIP, False) and again.warnings == []
    assert decide(again, job, redo=True) == (RUN, True)  # ours: may be replaced
    other = RunOptions(decompose=DecomposeOptions(layers=2))
    assert again.decide(job, other, MODEL).action == RUN  # options changed
    assert again.decide(job, OPTIONS, "retrained").action == RUN  # weights changed


def test_a_touched_input_is_rehashed_and_a_changed_one_is_redone(tmp_path: Path) -> None:
    journal = Journal(tmp_path / JOURNAL_NAME)
    job = make_job(tmp_path)
    finish(journal, job)
    info = job.source.stat()
    os.utime(job.source, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))
    assert decide(journal, job) == (SKIP, False)  # same content, new mtime
    job.source.write_bytes(b"new pixels")
    assert decide(journal, job) == (RUN, True)


def test_files_the_tool_did_not_write_are_refused_unless_overwrite(tmp_path: Path) -> None:
    journal = Journal(tmp_path / JOURNAL_NAME)
    job = make_job(tmp_path)
    job.output.parent.mkdir(parents=True)
    job.output.write_bytes(b"the artist's own layered file")
    decision = journal.decide(job, OPTIONS, MODEL)
    assert decision.action == REFUSE
    assert decision.message == (
        f"{job.output}: already exists and this tool did not write it; "
        "pass --overwrite to replace it"
    )
    assert decide(journal, job, overwrite=True) == (RUN, True)
    # An output this tool wrote but someone edited since is no longer ours either.
    edited = make_job(tmp_path, "b")
    finish(journal, edited)
    edited.output.write_bytes(b"edited in Photoshop")
    message = journal.decide(edited, OPTIONS, MODEL).message
    assert message is not None and "changed since this tool wrote it" in message
    # An index map file in the way counts too.
    depth_job = Job(make_job(tmp_path, "c").source, tmp_path / "out" / "c.psd", tmp_path / "c.png")
    depth_job.depth_out.write_bytes(b"someone's png")
    assert journal.decide(depth_job, OPTIONS, MODEL).action == REFUSE


def test_a_claimed_output_is_ours_even_if_the_driver_died_before_recording_it(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / JOURNAL_NAME)
    job = make_job(tmp_path)
    journal.claim(job)
    job.output.parent.mkdir(parents=True)
    job.output.write_bytes(b"written by a worker; the driver died before hearing back")
    assert decide(Journal(journal.path), job) == (RUN, True)


def test_unreadable_and_damaged_journals_warn(tmp_path: Path) -> None:
    folder_in_the_way = tmp_path / "one" / JOURNAL_NAME
    folder_in_the_way.mkdir(parents=True)
    (warning,) = Journal(folder_in_the_way).warnings
    assert warning.startswith(f"{folder_in_the_way}: cannot read the journal")
    damaged = tmp_path / "two" / JOURNAL_NAME
    damaged.parent.mkdir()
    good = {"output": str(tmp_path / "x.psd"), "key": "k", "stamp": [1, 2]}
    damaged.write_text("\x00\x01garbage\n" + json.dumps(good) + '\n{"output": "cut sh')
    journal = Journal(damaged)
    assert journal.warnings == [f"{damaged}: 1 damaged line(s) ignored"]  # the cut last line is not
    assert len(journal) == 1


def test_journals_written_before_claims_existed_still_resume(tmp_path: Path) -> None:
    job = make_job(tmp_path)
    job.output.parent.mkdir(parents=True)
    job.output.write_bytes(b"layered")
    info = job.output.stat()
    old_style = {
        "output": str(job.output.resolve()),
        "key": resume_key(file_sha256(job.source), OPTIONS, job, MODEL),
        "input": str(job.source),
        "stamp": [info.st_size, info.st_mtime_ns],
        "layers": 6,
        "finished": "2026-01-01T00:00:00+0000",
    }
    (tmp_path / JOURNAL_NAME).write_text(json.dumps(old_style) + "\n")
    assert decide(Journal(tmp_path / JOURNAL_NAME), job) == (SKIP, False)
