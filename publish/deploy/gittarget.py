"""`git:URL#BRANCH`: the built site committed to a branch and pushed (GitHub or Codeberg Pages).

Each deploy is one new commit on top of the branch's current head (history kept, never a
force push), holding exactly `build/site/` plus an empty `.nojekyll` (so GitHub Pages serves
files whose names start with `_`). The work happens in a throwaway repository; git's own
credentials (an SSH key, a credential helper) authenticate, never publish.toml.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from publish.deploy.process import run
from publish.deploy.target import DeployResult, failure
from publish.model import DeploySettings

DEFAULT_BRANCH = "gh-pages"
IDENTITY = ["-c", "user.name=publish", "-c", "user.email=publish@localhost"]
LIVE_REF = "refs/remotes/live"


class GitTarget:
    """Deploys by committing the site to a branch of a git repository and pushing it."""

    def __init__(self, settings: DeploySettings) -> None:
        self.settings = settings
        url, _, branch = settings.location.rpartition("#")
        self.url, self.branch = (url, branch) if url else (settings.location, DEFAULT_BRANCH)
        if not self.branch or re.search(r"[\s~^:?*\[\\]|\.\.", self.branch):
            raise failure(settings, f"'{self.branch}' is not a branch name")

    def deploy(self, site_dir: Path, build_id: str) -> DeployResult:
        """Commit the site as the branch's next commit and push it."""
        with tempfile.TemporaryDirectory(prefix="publish-git-") as work:
            git = _Git(self.settings, Path(work))
            parent = git.fetch(self.url, self.branch, depth=1)
            tree = git.tree_of(site_dir)
            if parent is not None and git.out("rev-parse", f"{parent}^{{tree}}") == tree:
                return DeployResult(
                    build_id,
                    parent[:12],
                    (f"{self.url} branch {self.branch} already holds build {build_id}",),
                    False,
                )
            commit = git.commit(tree, parent, f"publish: deploy build {build_id}")
            git.out("push", "-q", self.url, f"{commit}:refs/heads/{self.branch}")
        return DeployResult(
            build_id,
            commit[:12],
            (
                f"deployed build {build_id} to {self.url} branch {self.branch} "
                f"(commit {commit[:12]})",
            ),
        )

    def rollback(self) -> DeployResult:
        """Push a new commit holding the tree of the commit before the branch's head."""
        with tempfile.TemporaryDirectory(prefix="publish-git-") as work:
            git = _Git(self.settings, Path(work))
            head = git.fetch(self.url, self.branch, depth=2)
            if head is None or not git.out("rev-list", "--max-count=1", "--skip=1", head):
                raise failure(self.settings, f"branch {self.branch} has no earlier commit")
            tree = git.out("rev-parse", f"{head}~1^{{tree}}")
            message = git.out("log", "-1", "--format=%s", f"{head}~1")
            commit = git.commit(tree, head, f"publish: roll back to ({message})")
            git.out("push", "-q", self.url, f"{commit}:refs/heads/{self.branch}")
        build = message.rpartition(" ")[2]
        return DeployResult(
            build,
            commit[:12],
            (f"rolled {self.url} branch {self.branch} back to the tree of {message!r}",),
        )


class _Git:
    """git commands on a throwaway repository in `work`."""

    def __init__(self, settings: DeploySettings, work: Path) -> None:
        self.settings = settings
        self.git_dir = work / "repo.git"
        self.env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_INDEX_FILE": str(work / "index")}
        self.out("init", "-q", "--bare", str(self.git_dir))

    def out(self, *args: str, work_tree: Path | None = None, stdin: str | None = None) -> str:
        """Run one git command; its stripped stdout."""
        argv = ["git", *IDENTITY, f"--git-dir={self.git_dir}"]
        if work_tree is not None:
            argv += ["-C", str(work_tree), f"--work-tree={work_tree}"]
        return run(
            self.settings, [*argv, *args], what=f"git {args[0]}", env=self.env, stdin=stdin
        ).stdout.strip()

    def fetch(self, url: str, branch: str, depth: int) -> str | None:
        """The branch's head commit after fetching it, or None if the branch does not exist."""
        if not self.out("ls-remote", url, f"refs/heads/{branch}"):
            return None
        self.out("fetch", "-q", f"--depth={depth}", url, f"+refs/heads/{branch}:{LIVE_REF}")
        return self.out("rev-parse", LIVE_REF)

    def tree_of(self, site_dir: Path) -> str:
        """The tree of every file in `site_dir`, plus an empty `.nojekyll`."""
        self.out("read-tree", "--empty")
        self.out("add", "-A", "--force", ".", work_tree=site_dir)
        empty = self.out("hash-object", "-w", "--stdin", stdin="")
        self.out("update-index", "--add", "--cacheinfo", f"100644,{empty},.nojekyll")
        return self.out("write-tree")

    def commit(self, tree: str, parent: str | None, message: str) -> str:
        """A commit of `tree` on top of `parent`."""
        parents = ["-p", parent] if parent else []
        return self.out("commit-tree", tree, *parents, "-m", message)
