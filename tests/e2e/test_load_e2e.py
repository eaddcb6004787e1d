"""A short load run through the session's local stack, reconciled id by id (the long one is `make soak`)."""

import pytest

from stacktools.load import Driver, corpus, run


@pytest.fixture(scope="module")
def load_corpus(tmp_path_factory):
    return corpus(tmp_path_factory.mktemp("load-corpus"))


def test_twelve_uploads_and_twelve_clips_all_end_in_a_final_state_with_nothing_lost_or_doubled(stack, load_corpus):
    report = run(
        Driver(stack.description),
        load_corpus,
        uploads=12,
        clips=12,
        concurrency=6,
        timeout_s=150,
        prefix="load-short",
        deletes=3,
    )

    print("\n".join(report.lines()))
    assert report.problems == []
    assert len(report.videos) == 12
    assert {v.status for v in report.videos} == {"ready", "rejected"}
    assert sum(1 for c in report.clips if c.repeat_of) == 2
    assert all(c.status == "ready" for c in report.clips)
    assert sum(1 for v in report.videos if v.deleted) == 3
    assert report.events["video.deleted"] == 3
    assert report.events["video.ready"] + report.events["video.rejected"] == 12
    assert report.events["clip.ready"] == 10  # twelve requests, two of them repeats
