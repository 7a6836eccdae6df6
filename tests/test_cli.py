import subprocess
import sys

from typer.testing import CliRunner

from genlab.cli import app

runner = CliRunner()


def test_help_lists_every_group():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for group in ("data", "images", "arith", "demo"):
        assert group in result.output


def test_python_dash_m_and_user_errors_are_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "genlab", "images", "sample", str(tmp_path / "no-such-run")],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
