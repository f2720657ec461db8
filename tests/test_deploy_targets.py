"""Each deploy target end to end against the real thing on 127.0.0.1: a folder served over
HTTP, sshd + rsync, a bare git repository, moto's S3 server, and a command.

Every target is deployed twice (the second build changes one essay and deletes another);
after each, what is served must equal build/site/ exactly. For dir and rsync a reader polls
an HTTP server on the live folder during the second deploy: each answer is the old file or
the new one, never a missing or half-written one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from tests.deployservers import (
    GIT_ENV,
    Reader,
    http_folder,
    s3_server,
    sshd_server,
    tree,
)
from tests.sitebuilder import DEFAULT_SETTINGS, essay_text, invoke, make_site
from tests.tools import requires

TODAY = "2027-02-01"
ESSAYS = {
    "01-first": essay_text("The First Letter", "First words.\n", slug="first", date="2026-11-03"),
    "02-second": essay_text(
        "The Second Letter", "Second words.\n", slug="second", date="2026-12-01"
    ),
    "03-third": essay_text("The Third Letter", "Third words.\n", slug="third", date="2027-01-05"),
}
READ_PATHS = ["", "feed.xml", "third/", "second/", "style.css"]


def deploy_site(root: Path, deploy_table: str) -> Path:
    """The fixture site with this [deploy] table."""
    return make_site(root, ESSAYS, settings=DEFAULT_SETTINGS + "\n[deploy]\n" + deploy_table)


def deploy(root: Path, *extra: str) -> str:
    """`publish deploy`, which must succeed; its output."""
    result = invoke(root, "deploy", "--today", TODAY, *extra)
    assert result.exit_code == 0, result.output
    return result.output


def second_edition(root: Path) -> None:
    """Change the third essay, delete the second."""
    third = root / "essays" / "03-third.md"
    third.write_text(third.read_text().replace("Third words.", "Third words, revised."))
    (root / "essays" / "02-second.md").unlink()


def built(root: Path) -> dict[str, bytes]:
    """The files of build/site/."""
    return tree(root / "build" / "site")


def answers_are_old_or_new(reader: Reader, old: dict[str, bytes], new: dict[str, bytes]) -> None:
    """Every answer the reader got is exactly the old or the new file (or, for a page that
    the new build removed, the old page then a 404)."""
    assert reader.seen
    for path, answer in reader.seen:
        name = path + "index.html" if path == "" or path.endswith("/") else path
        allowed = {old.get(name, 404), new.get(name, 404)}
        assert answer in allowed, (path, answer if isinstance(answer, int) else answer[:80])


def test_dir_target_swaps_a_link_keeps_releases_and_rolls_back(tmp_path: Path) -> None:
    www = tmp_path / "www"
    root = deploy_site(tmp_path / "site", f'target = "dir:{www}/letters"\nkeep = 2\n')
    out = deploy(root)
    live = www / "letters"
    assert live.is_symlink() and "deployed build" in out
    first = built(root)
    assert tree(live) == first
    second_edition(root)
    with http_folder(live) as base, Reader(base, READ_PATHS) as reader:
        deploy(root)
    second = built(root)
    assert tree(live) == second != first
    assert "second/index.html" not in tree(live)
    answers_are_old_or_new(reader, first, second)
    assert "already live" in deploy(root)
    assert len(list((www / "letters-releases").iterdir())) == 2
    assert "rolled" in deploy(root, "--rollback")
    assert tree(live) == first
    again = invoke(root, "deploy", "--rollback")
    assert again.exit_code == 1 and "no release before the live one" in again.output
    assert "Traceback" not in again.output


def test_dir_target_refuses_a_real_folder(tmp_path: Path) -> None:
    (tmp_path / "www" / "letters").mkdir(parents=True)
    root = deploy_site(tmp_path / "site", f'target = "dir:{tmp_path}/www/letters"\n')
    result = invoke(root, "deploy", "--today", TODAY)
    assert result.exit_code == 1
    assert result.output.startswith("publish.toml:9:1: error: deploy to dir:")
    assert "is a real folder, not a link" in result.output


@pytest.mark.slow
def test_rsync_target_over_a_real_sshd(tmp_path: Path) -> None:
    remote = tmp_path / "server" / "letters"
    remote.parent.mkdir()
    with sshd_server(tmp_path) as sshd:
        root = deploy_site(
            tmp_path / "site",
            f'target = "rsync:{sshd.user}@127.0.0.1:{remote}"\nssh = "{sshd.ssh}"\nkeep = 3\n',
        )
        deploy(root)
        first = built(root)
        assert remote.is_symlink() and tree(remote) == first
        second_edition(root)
        with http_folder(remote) as base, Reader(base, READ_PATHS) as reader:
            deploy(root)
        second = built(root)
        assert tree(remote) == second != first
        answers_are_old_or_new(reader, first, second)
        # unchanged files are hard links to the previous release, not new copies
        releases = sorted((remote.parent / "letters-releases").iterdir())
        assert os.path.samefile(releases[0] / "style.css", releases[1] / "style.css")
        assert "rolled" in deploy(root, "--rollback")
        assert tree(remote) == first
        assert "Accepted publickey" in sshd.log.read_text()


def test_rsync_target_without_the_key_is_a_clear_error(tmp_path: Path) -> None:
    with sshd_server(tmp_path) as sshd:
        ssh = sshd.ssh.replace("client_key", "host_key")  # a key the server does not accept
        root = deploy_site(
            tmp_path / "site",
            f'target = "rsync:{sshd.user}@127.0.0.1:{tmp_path}/letters"\nssh = "{ssh}"\n',
        )
        result = invoke(root, "deploy", "--today", TODAY)
    assert result.exit_code == 1
    assert "publish.toml:9:1: error: deploy to rsync:" in result.output
    assert "exited with status 255" in result.output and "Permission denied" in result.output


def git(*args: str) -> str:
    """A hermetic git command's stdout."""
    return subprocess.run(
        [requires("git")["git"], *args],
        env={**os.environ, **GIT_ENV},
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def branch_tree(bare: Path, branch: str) -> dict[str, bytes]:
    """Every file of `branch` in the bare repository, with its bytes."""
    names = git(f"--git-dir={bare}", "ls-tree", "-r", "--name-only", branch).split("\n")
    return {
        name: subprocess.run(
            [requires("git")["git"], f"--git-dir={bare}", "show", f"{branch}:{name}"],
            capture_output=True,
            check=True,
        ).stdout
        for name in names
        if name
    }


def test_git_target_commits_and_pushes_a_branch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    bare = tmp_path / "letters.git"
    git("init", "--bare", "-q", str(bare))
    root = deploy_site(tmp_path / "site", f'target = "git:{bare}#pages"\n')
    deploy(root)
    assert branch_tree(bare, "pages") == {**built(root), ".nojekyll": b""}
    second_edition(root)
    deploy(root)
    assert branch_tree(bare, "pages") == {**built(root), ".nojekyll": b""}
    log = git(f"--git-dir={bare}", "log", "--format=%s", "pages").splitlines()
    assert len(log) == 2 and all(line.startswith("publish: deploy build ") for line in log)
    assert "already" in deploy(root)
    first_tree = git(f"--git-dir={bare}", "rev-parse", "pages~1^{tree}")
    deploy(root, "--rollback")
    assert git(f"--git-dir={bare}", "rev-parse", "pages^{tree}") == first_tree


S3_KEYS = {"AWS_ACCESS_KEY_ID": "testing-key-id", "AWS_SECRET_ACCESS_KEY": "testing-secret"}


def bucket_tree(client, bucket: str, prefix: str) -> dict[str, bytes]:
    """Every object under `prefix`, by key without the prefix."""
    listing = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {
        item["Key"][len(prefix) :]: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        for item in listing
    }


def test_s3_target_uploads_only_changes_with_types_and_deletes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    invalidations = tmp_path / "invalidated.txt"
    script = tmp_path / "purge.py"
    script.write_text(
        f"import sys\nwith open({str(invalidations)!r}, 'a') as f:\n"
        "    f.write(' '.join(sys.argv[1:]) + '\\n')\n"
    )
    hook = f"{sys.executable} {script} {{paths}}"
    with s3_server() as endpoint:
        env = {**S3_KEYS, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        client = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-1")
        client.create_bucket(
            Bucket="letters", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        table = (
            f'target = "s3://letters/site"\nendpoint_url = "{endpoint}"\n'
            f'region = "eu-west-1"\ninvalidate = "{hook}"\n'
        )
        root = deploy_site(tmp_path / "site", table)
        out = deploy(root)
        first = built(root)
        assert bucket_tree(client, "letters", "site/") == first
        assert f"{len(first)} file(s) uploaded, 0 deleted" in out
        head = client.head_object(Bucket="letters", Key="site/feed.xml")
        assert head["ContentType"] == "application/rss+xml; charset=utf-8"
        assert "max-age=60" in head["CacheControl"]
        css = client.head_object(Bucket="letters", Key="site/style.css")
        assert css["ContentType"] == "text/css; charset=utf-8"
        assert css["CacheControl"] == "public, max-age=3600"
        second_edition(root)
        out = deploy(root)
        second = built(root)
        assert bucket_tree(client, "letters", "site/") == second
        changed = {k for k in second if first.get(k) != second[k]}
        gone = set(first) - set(second)
        assert f"{len(changed)} file(s) uploaded, {len(gone)} deleted" in out
        assert "second/index.html" in gone and "third/index.html" in changed
        hooked = invalidations.read_text().splitlines()
        assert set(hooked[1].split()) == {f"/site/{k}" for k in changed | gone}
        assert "testing-secret" not in out
        missing = deploy_site(tmp_path / "missing", table.replace("letters/site", "nobucket"))
        result = invoke(missing, "deploy", "--today", TODAY)
        assert result.exit_code == 1, result.output
        assert "deploy to s3://nobucket failed: NoSuchBucket" in result.output
        assert "testing-secret" not in result.output and "Traceback" not in result.output


def test_s3_uploads_pages_after_the_assets_they_reference(tmp_path: Path) -> None:
    from publish.deploy.s3target import is_page

    order = sorted(
        ["index.html", "style.css", "feed.xml", "images/a.png", "x/index.html"],
        key=lambda name: (is_page(name), name),
    )
    assert order == ["images/a.png", "style.css", "feed.xml", "index.html", "x/index.html"]


def test_command_target_runs_without_a_shell_and_shows_output(tmp_path: Path) -> None:
    requires("rsync")
    dest = tmp_path / "copy"
    command = f"rsync -a --delete --itemize-changes {{site}}/ {dest}/"
    root = deploy_site(tmp_path / "site", f'target = "command:{command}"\n')
    out = deploy(root)
    assert tree(dest) == built(root) and "deploy command: " in out
    second_edition(root)
    deploy(root)
    assert tree(dest) == built(root)
    assert "second/index.html" not in tree(dest)


def test_command_target_failure_is_a_clear_error(tmp_path: Path) -> None:
    requires("false", "echo", "sh")
    root = deploy_site(tmp_path / "site", 'target = "command:false"\n')
    result = invoke(root, "deploy", "--today", TODAY)
    assert result.exit_code == 1
    assert result.output.startswith(
        "publish.toml:9:1: error: deploy to command:false failed: "
        "the deploy command command:false exited with status 1"
    )
    missing = deploy_site(tmp_path / "other", 'target = "command:no-such-program {site}"\n')
    result = invoke(missing, "deploy", "--today", TODAY)
    assert "the program 'no-such-program' is not installed" in result.output
    shell = deploy_site(tmp_path / "shell", 'target = "command:echo $HOME {site}"\nshell = true\n')
    assert f"deploy command: {os.environ['HOME']} " in deploy(shell)
    plain = deploy_site(tmp_path / "plain", 'target = "command:echo $HOME"\n')
    assert "deploy command: $HOME" in deploy(plain)


def test_bad_deploy_settings_are_located(tmp_path: Path) -> None:
    root = deploy_site(tmp_path / "site", 'target = "dri:/var/www"\nverify_timout = 3\n')
    result = invoke(root, "check")
    assert result.exit_code == 1
    assert "publish.toml:9:1: error: 'deploy.target' must be one of" in result.output
    assert "(did you mean 'dir'?)" in result.output
    assert (
        "publish.toml:10:1: error: unknown key 'deploy.verify_timout' (did you mean "
        "'verify_timeout'?)"
    ) in result.output
    plain = make_site(tmp_path / "plain", ESSAYS)
    checked = invoke(plain, "check")
    assert checked.exit_code == 0 and "publish does not deploy this site" in checked.output


def test_a_token_in_a_git_url_is_never_shown(tmp_path: Path) -> None:
    requires("git")
    root = deploy_site(
        tmp_path / "site", 'target = "git:https://ada:s3cr3t-token@127.0.0.1:1/letters.git#pages"\n'
    )
    result = invoke(root, "deploy", "--today", TODAY)
    assert result.exit_code == 1
    assert "deploy to git:https://***@127.0.0.1:1/letters.git#pages failed" in result.output
    assert "s3cr3t-token" not in result.output
