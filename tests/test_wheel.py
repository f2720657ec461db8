"""The package installs like one: a wheel built from the checkout, installed into a fresh
virtual environment outside it, runs `publish --version`, `init`, `build` and `check` from
its own files alone (templates, static files, the scaffold and the translation catalogs
are package data), and completes its commands in the shell."""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from publish import __version__

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DATA = ("templates", "static", "scaffold", "i18n/catalogs")
CATALOG_MARKER = "i18n/catalogs/xx/LC_MESSAGES/wheel-test.po"


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a program; its output, or a failure naming what it said."""
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the checkout (the build writes beside its sources), with
    one more catalog file in it, so that the catalogs' glob is proven whatever they hold."""
    scratch = tmp_path_factory.mktemp("wheel")
    source = scratch / "publish-essays"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO_ROOT / "publish", source / "publish", ignore=ignore)
    marker = source / "publish" / CATALOG_MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text('msgid ""\nmsgstr ""\n', encoding="utf-8")
    dist = scratch / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, source, cwd=scratch)
    [built] = dist.glob("publish_essays-*.whl")
    return built


def test_the_wheel_holds_every_data_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    package = REPO_ROOT / "publish"
    wanted = [
        path.relative_to(REPO_ROOT).as_posix()
        for folder in PACKAGE_DATA
        if (package / folder).is_dir()
        for path in (package / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    wanted.append(f"publish/{CATALOG_MARKER}")
    assert len(wanted) > 20
    assert [name for name in wanted if name not in names] == []
    assert wheel.name.startswith(f"publish_essays-{__version__}-")


def test_the_installed_wheel_inits_builds_and_checks_a_site(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "env"
    run(sys.executable, "-m", "venv", "--without-pip", env_dir, cwd=tmp_path)
    python = env_dir / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel,
        cwd=tmp_path)  # fmt: skip
    # The dependencies come from this test's environment, added as plain paths: their .pth
    # files (among them any editable install of this checkout) are not run.
    [env_site] = (env_dir / "lib").glob("python3*/site-packages")
    (env_site / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    where = run(python, "-c", "import publish; print(publish.__file__)", cwd=tmp_path, env=env)
    assert Path(where.strip()).is_relative_to(env_site)
    publish = env_dir / "bin" / "publish"
    assert __version__ in run(publish, "--version", cwd=tmp_path, env=env)
    run(publish, "init", "letters", "--title", "Field Notes", cwd=tmp_path, env=env)
    run(publish, "--root", "letters", "build", "--drafts", cwd=tmp_path, env=env)
    run(publish, "--root", "letters", "check", cwd=tmp_path, env=env)
    built = tmp_path / "letters" / "build" / "site"
    assert "Field Notes" in (built / "index.html").read_text(encoding="utf-8")
    assert (built / "style.css").is_file() and (built / "feed.xml").is_file()
    # Shell completion, as the install page documents it.
    completion = {**env, "_PUBLISH_COMPLETE": "bash_complete", "COMP_WORDS": "publish subscri"}
    words = run(publish, cwd=tmp_path, env={**completion, "COMP_CWORD": "1"})
    assert words.split() == ["plain,subscribers", "plain,subscriptions"]
