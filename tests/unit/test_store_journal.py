"""The fsync'd JSON-lines journal: group commit keeps every acknowledged record, and a rewrite (forgetting a user)
racing with appends from many threads loses none of the records it keeps."""

from __future__ import annotations

import threading
from pathlib import Path

from engine.store.journal import JsonLinesJournal


def test_concurrent_appends_are_all_on_disk_each_on_its_own_line(tmp_path: Path):
    journal = JsonLinesJournal(tmp_path / "feedback.jsonl")

    def append(worker: int) -> None:
        for n in range(40):
            journal.append({"user_id": f"u{worker}", "n": n, "text": "ü" * 50})

    threads = [threading.Thread(target=append, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = journal.records()
    assert journal.count() == len(records) == 320
    assert sorted((r["user_id"], r["n"]) for r in records) == sorted((f"u{w}", n) for w in range(8) for n in range(40))


def test_a_rewrite_racing_with_appends_removes_only_what_it_should(tmp_path: Path):
    path = tmp_path / "feedback.jsonl"
    journal = JsonLinesJournal(path)
    for n in range(50):
        journal.append({"user_id": "forgotten", "n": n})
    appended: list[int] = []

    def append() -> None:
        other = JsonLinesJournal(path)  # as another process would: its own object, the same file
        for n in range(200):
            other.append({"user_id": "kept", "n": n})
            appended.append(n)

    writer = threading.Thread(target=append)
    writer.start()
    removed = sum(journal.rewrite(lambda record: record["user_id"] != "forgotten") for _ in range(5))
    writer.join()
    records = journal.records()
    assert removed == 50
    assert [r["n"] for r in records if r["user_id"] == "kept"] == sorted(appended) == list(range(200))
    assert not any(r["user_id"] == "forgotten" for r in records)


def test_a_torn_last_line_is_skipped_and_the_rest_read(tmp_path: Path):
    path = tmp_path / "feedback.jsonl"
    JsonLinesJournal(path).append({"user_id": "a"})
    with path.open("a") as handle:
        handle.write('{"user_id": "b", "ite')
    assert JsonLinesJournal(path).records() == [{"user_id": "a"}]
