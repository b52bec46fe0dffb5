import logging

from newsbeam.transforms.progress import Progress


def test_one_line_every_n_elements(caplog):
    logger = logging.getLogger("newsbeam.test.progress")
    progress = Progress(logger, "pages fetched", every=10, min_seconds=0)
    with caplog.at_level(logging.INFO, logger="newsbeam.test.progress"):
        for _ in range(35):
            progress.tick()
    assert [r.getMessage() for r in caplog.records] == [
        "pages fetched: 10 so far on this worker",
        "pages fetched: 20 so far on this worker",
        "pages fetched: 30 so far on this worker",
    ]


def test_rate_limited_in_time(caplog):
    logger = logging.getLogger("newsbeam.test.progress2")
    progress = Progress(logger, "x", every=1, min_seconds=3600)
    with caplog.at_level(logging.INFO, logger="newsbeam.test.progress2"):
        for _ in range(5):
            progress.tick()
    assert caplog.records == []
