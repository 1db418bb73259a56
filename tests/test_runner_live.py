"""Live progress: the library's bars go to the file the runner names, and the runner echoes that
file to its terminal while the notebook runs (nothing reaches the notebook's outputs)."""
import time

from misgen_lib import progress
from misgen_lib.runner.live import echo_progress


def test_bars_go_to_the_progress_file_when_the_runner_names_one(tmp_path, monkeypatch, capsys):
    live = tmp_path / "nb.progress"
    monkeypatch.setenv(progress.PROGRESS_FILE_ENV, str(live))
    for _ in progress.bar(range(3), desc="training sine / vae"):
        pass
    assert "training sine / vae" in live.read_text() and "3/3" in live.read_text()
    captured = capsys.readouterr()
    assert "training" not in captured.out + captured.err          # nothing in the notebook's outputs
    for _ in progress.bar(range(2), desc="quiet", progress=False):   # an explicit False stays silent
        pass
    assert "quiet" not in live.read_text()


def test_without_the_runner_bars_are_off_by_default(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(progress.PROGRESS_FILE_ENV, raising=False)
    for _ in progress.bar(range(2), desc="nobody asked"):
        pass
    assert "nobody asked" not in capsys.readouterr().err


def test_the_runner_echoes_the_file_while_the_notebook_runs(tmp_path, capsys):
    live = tmp_path / "nb.progress"
    with echo_progress(live, interval=0.05, lines=False):     # as on a terminal
        with open(live, "a") as f:
            f.write("training: 1/4\r")
            f.flush()
            time.sleep(0.3)
            assert "training: 1/4" in capsys.readouterr().err      # shown while still running
            f.write("training: 4/4\n")
    assert "training: 4/4" in capsys.readouterr().err
    assert not live.exists()


def test_in_a_log_the_runner_writes_the_newest_state_as_one_line_naming_the_notebook(tmp_path, capsys):
    """Where stderr is not a terminal (CI), a line per interval when the bars moved: the newest
    state after tqdm's redraws, never the carriage returns, and nothing when nothing changed."""
    live = tmp_path / "02_misgeneralization.progress"
    with echo_progress(live, interval=0.05, lines=True):
        with open(live, "a") as f:
            f.write("\rtraining: 1/36\rtraining: 2/36\r")
            f.flush()
            time.sleep(0.3)
            assert capsys.readouterr().err == "  02_misgeneralization: training: 2/36\n"
            time.sleep(0.2)
            assert capsys.readouterr().err == ""                        # no change, no line
            f.write("training: 36/36\n\rsampling: 5/36")
    assert capsys.readouterr().err == "  02_misgeneralization: sampling: 5/36\n"
    assert not live.exists()


def test_the_echo_is_a_log_of_lines_where_stderr_is_not_a_terminal(tmp_path, capsys):
    live = tmp_path / "nb.progress"
    with echo_progress(live, interval=0.05):       # capsys: stderr is not a terminal
        with open(live, "a") as f:
            f.write("\rtraining: 3/4")
            f.flush()
            time.sleep(0.3)
    assert capsys.readouterr().err == "  nb: training: 3/4\n"
