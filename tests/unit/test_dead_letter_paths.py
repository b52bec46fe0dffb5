"""Dead-letter locations travel: URLs stay URLs, local paths stay local."""

from newsbeam.config.settings import load_settings
from newsbeam.connectors.es_sink import IndexAction, read_dead_letters, write_dead_letters
from newsbeam.pipeline.run import _dead_letter_count, dead_letter_dir


def _settings(folder):
    return load_settings(overrides={"elasticsearch": {"dead_letter_dir": folder, "index_prefix": "nb"}})


def test_a_url_keeps_its_scheme_and_host():
    assert dead_letter_dir(_settings("gs://bucket/dead/")) == "gs://bucket/dead/nb"
    assert dead_letter_dir(_settings("s3://bucket/x")) == "s3://bucket/x/nb"
    assert dead_letter_dir(_settings("hdfs://namenode:8020/nb-dl")) == "hdfs://namenode:8020/nb-dl/nb"


def test_default_stays_under_the_state_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path))
    assert dead_letter_dir(_settings(None)) == str(tmp_path / "dead-letter" / "nb")


def test_non_default_local_folder_round_trip_and_count(tmp_path):
    folder = dead_letter_dir(_settings(str(tmp_path / "shared" / "dl")))
    assert folder == str(tmp_path / "shared" / "dl" / "nb")
    assert _dead_letter_count(folder) == 0
    actions = [IndexAction("nb-articles", f"id{i}", {"title": f"t{i}"}) for i in range(3)]
    path = write_dead_letters(folder, actions)
    assert path.startswith(folder)
    assert [a for _p, batch in read_dead_letters(folder) for a in batch] == actions
    assert _dead_letter_count(folder) == 3
