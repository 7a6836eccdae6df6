"""genlab installs like a package: a wheel built by the standard backend, installed into a fresh virtual
environment, gives a working `genlab` command. Offline: nothing is downloaded, the new environment
borrows its dependencies from the one running the tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

import genlab

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = {"dev", "tensorboard", "onnx", "notebooks"}
TEST_ONLY = {"torchmetrics", "scipy", "pytest", "ruff"}

# run by the new environment's python: where genlab came from, and which dependencies are missing
CHECK_DEPENDENCIES = """
import json, re
from importlib.metadata import PackageNotFoundError, distribution, version
import genlab
missing = []
for requirement in distribution("genlab").requires or []:
    if "extra ==" in requirement:
        continue
    name = re.split(r"[<>=!~;\\[ ]", requirement, maxsplit=1)[0]
    try:
        installed = version(name)
    except PackageNotFoundError:
        missing.append(requirement)
        continue
    try:
        from packaging.requirements import Requirement
    except ImportError:
        continue
    if not Requirement(requirement).specifier.contains(installed, prereleases=True):
        missing.append(f"{requirement} (installed: {installed})")
print(json.dumps({"genlab": genlab.__file__, "missing": missing}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # built from a copy of the sources: a build writes build/ and *.egg-info beside what it builds
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = tmp_path_factory.mktemp("dist")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "--disable-pip-version-check", "-w", str(dist), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout + build.stderr
    (built,) = dist.glob("genlab-*.whl")
    return built


@pytest.fixture(scope="module")
def env(tmp_path_factory, wheel) -> Path:
    """A new virtual environment with the wheel installed; returns its scripts folder."""
    root = tmp_path_factory.mktemp("venv") / "env"
    try:
        venv.create(root, with_pip=False, symlinks=os.name != "nt")
    except Exception as exc:  # e.g. a Python built without venv support
        pytest.skip(f"cannot create a virtual environment here ({type(exc).__name__}: {exc})")
    scripts = root / ("Scripts" if os.name == "nt" else "bin")
    python = scripts / ("python.exe" if os.name == "nt" else "python")
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # the dependencies: this environment's site-packages, after the new environment's own (a .pth
    # line is a plain path, so the editable genlab installed here is not picked up through it)
    parent = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    Path(site, "_genlab_test_dependencies.pth").write_text("\n".join(parent) + "\n")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-index", "--no-deps", "--ignore-installed", "-q",
         "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    return scripts


def genlab_command(env: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = env / ("genlab.exe" if os.name == "nt" else "genlab")
    return subprocess.run([str(command), *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_the_wheel_holds_every_module_and_data_file_the_command_and_the_extras(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(info).decode()
        entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
    # every module and every file beside them (the serve page's static files, ...)
    package = ROOT / "src" / "genlab"
    files = {
        p.relative_to(ROOT / "src").as_posix()
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    assert sorted(files - set(names)) == []
    assert "genlab = genlab.cli:main" in entry_points
    assert f"Version: {genlab.__version__}\n" in metadata
    assert EXTRAS <= {
        line.split(": ")[1] for line in metadata.splitlines() if line.startswith("Provides-Extra")
    }
    runtime = [
        line.split(": ")[1]
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist") and "extra" not in line
    ]
    assert not {r.split(">")[0].split("=")[0].split("<")[0].strip() for r in runtime} & TEST_ONLY


def test_the_installed_wheel_runs_genlab_from_the_new_environment(env, tmp_path):
    python = env / ("python.exe" if os.name == "nt" else "python")
    check = subprocess.run(
        [str(python), "-c", CHECK_DEPENDENCIES], capture_output=True, text=True, cwd=tmp_path
    )
    assert check.returncode == 0, check.stderr
    found = json.loads(check.stdout)
    assert Path(found["genlab"]).is_relative_to(env.parent), found  # the wheel's genlab, not this checkout's
    assert found["missing"] == []

    result = genlab_command(env, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "images" in result.stdout and "arith" in result.stdout
    result = genlab_command(env, "--version", cwd=tmp_path)
    assert result.stdout.startswith(f"genlab {genlab.__version__} (torch ")
    assert "device " in result.stdout


def test_the_installed_command_reads_mnist(env, tmp_path):
    result = genlab_command(env, "data", "info", "mnist", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "MNIST" in result.stdout or "mnist" in result.stdout
