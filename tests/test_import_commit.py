"""`publish import` against what else touches the site: the lock it shares with `publish
run`, and the staging folders an import killed on the way leaves behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from publish.support.testhooks import CRASH, HOLD, HOOK_ENV, hook_value
from tests.exports import substack_zip
from tests.mailsite import SETTINGS
from tests.sitebuilder import essay_text, invoke, make_site
from tests.test_importers import new_site, snapshot
from tests.test_writer import wait_for_hold
from tests.tools import requires

REPO = Path(__file__).parent.parent
OTHER_FILESYSTEM = "/dev/shm"  # tmpfs on Linux, never the test's own temporary folder
BUSY = "a `publish run` or a `publish import` is in progress; try again when it has finished"

HOLD_THE_RUN_LOCK = """
import sys
from pathlib import Path
from publish.content.settings import load_settings
from publish.ops.run import _run_lock
root = Path(sys.argv[1])
with _run_lock(root, load_settings(root)):
    print("held", flush=True)
    sys.stdin.read()
"""


def start_import(root: Path, export: Path, hook: str) -> subprocess.Popen:
    """A real `publish import` in its own process, with the test hook `hook`."""
    env = {**os.environ, HOOK_ENV: hook}
    command = [sys.executable, "-m", "publish", "--root", str(root), "import", "substack"]
    return subprocess.Popen(
        [*command, str(export)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        bufsize=0,
    )


def not_cache(files: dict[str, bytes]) -> dict[str, bytes]:
    """A site's files without the build cache."""
    return {path: data for path, data in files.items() if not path.startswith("build/.cache/")}


def test_an_import_refuses_while_a_run_holds_the_site(tmp_path: Path) -> None:
    root, export = new_site(tmp_path), substack_zip(tmp_path / "export.zip")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_RUN_LOCK, str(root)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        before = snapshot(root)
        refused = invoke(root, "import", "substack", str(export))
        assert refused.exit_code == 1
        assert f"{root}:1:1: error: {BUSY}" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert snapshot(root) == before  # nothing written, releases.toml untouched
    finally:
        holder.communicate(timeout=30)  # closes its stdin: the run lets go
    imported = invoke(root, "import", "substack", str(export))
    assert imported.exit_code == 0, imported.output + imported.stderr
    assert (root / "releases.toml").is_file()


def test_a_run_and_another_import_refuse_while_an_import_holds_the_site(tmp_path: Path) -> None:
    essays = {"first.md": essay_text("First")}
    root = make_site(tmp_path / "site", essays, footnotes={}, settings=SETTINGS)
    export = substack_zip(tmp_path / "export.zip")
    first = start_import(root, export, hook_value(HOLD, "import-staged"))
    try:
        wait_for_hold(first, "import-staged")
        before = snapshot(root)
        second = invoke(root, "import", "substack", str(export))
        assert second.exit_code != 0 and "Traceback" not in second.stderr
        assert f"{root}:1:1: error: {BUSY}" in second.stderr
        run = invoke(root, "run", "--outbox")
        assert run.exit_code != 0 and "Traceback" not in run.stderr
        assert f"{root}:1:1: error: {BUSY}" in run.stderr
        assert not_cache(snapshot(root)) == not_cache(before)  # loading fills the cache
    finally:
        first.kill()
        first.communicate(timeout=30)


def test_an_import_into_essays_on_another_filesystem_copies_what_it_cannot_link(
    tmp_path: Path,
) -> None:
    root, export = new_site(tmp_path), substack_zip(tmp_path / "export.zip")
    elsewhere = Path(tempfile.mkdtemp(dir=OTHER_FILESYSTEM))  # a hard link cannot reach it
    try:
        assert os.stat(elsewhere).st_dev != os.stat(root).st_dev, "not another filesystem"
        shutil.rmtree(root / "essays", ignore_errors=True)
        (root / "essays").symlink_to(elsewhere, target_is_directory=True)
        result = invoke(root, "import", "substack", str(export))
        assert result.exit_code == 0, result.output + result.stderr
        essay = elsewhere / "on-margins.md"
        assert essay.is_file() and "Margins are where reading" in essay.read_text()
        assert (
            (elsewhere / "images" / "on-margins" / "pencil.png").read_bytes().startswith(b"\x89PNG")
        )
        assert list(root.glob(".publish-import-*")) == []
        checked = invoke(root, "check")
        assert checked.exit_code == 0, checked.output + checked.stderr
    finally:
        shutil.rmtree(elsewhere)


def test_the_next_import_clears_what_a_killed_import_staged(tmp_path: Path) -> None:
    requires("sleep")
    root, export = new_site(tmp_path), substack_zip(tmp_path / "export.zip")
    before = snapshot(root)
    killed = start_import(root, export, hook_value(CRASH, "import-staged"))
    _, stderr = killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL, stderr.decode()
    (stale,) = root.glob(".publish-import-*")
    assert stale.name.startswith(f".publish-import-{killed.pid}-")
    written = {p for p in snapshot(root) if not p.startswith(stale.name)} - set(before)
    assert written <= {"state/publish.db"}  # opened for the readers; nothing in place yet
    with subprocess.Popen(["sleep", "600"]) as alive:  # an import's owner still running
        try:
            running = root / f".publish-import-{alive.pid}-x1y2z3"
            (running / "essays").mkdir(parents=True)
            result = invoke(root, "import", "substack", str(export))
            assert result.exit_code == 0, result.output + result.stderr
            assert not stale.exists() and (running / "essays").is_dir()
            assert list(root.glob(".publish-import-*")) == [running]
        finally:
            alive.kill()
    assert (root / "essays" / "on-margins.md").is_file()
