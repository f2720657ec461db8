"""`s3://BUCKET/PREFIX`: an S3-compatible bucket (AWS S3, Cloudflare R2, Backblaze B2, MinIO).

Only files whose content changed are uploaded (the MD5 of a single-part upload is its ETag),
each with its Content-Type and a Cache-Control: assets first, then pages and feeds, so no
page is live before what it references; files no longer built are deleted last. Keys come
from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, or a profile), as boto3
reads them; `[deploy] endpoint_url` and `region` name a non-AWS service. `[deploy]
invalidate` is an optional command run afterwards (a CDN purge), `{paths}` replaced by the
changed paths.
"""

from __future__ import annotations

import hashlib
import mimetypes
import shlex
from pathlib import Path

import msgspec

from publish.deploy.process import run
from publish.deploy.target import DeployResult, failure, site_files
from publish.model import DeploySettings

PAGE_SUFFIXES = (".html", ".xml", ".json", ".txt", "_redirects")
PAGE_CACHE = "public, max-age=60, must-revalidate"
ASSET_CACHE = "public, max-age=3600"
TYPES = {
    ".xml": "application/xml",
    ".json": "application/json",
    ".css": "text/css",
    ".html": "text/html",
    ".txt": "text/plain",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
    ".avif": "image/avif",
}
SPECIAL = {
    "feed.xml": "application/rss+xml",
    "atom.xml": "application/atom+xml",
    "feed.json": "application/feed+json",
    "_redirects": "text/plain",
}


class Plan(msgspec.Struct, frozen=True):
    """What a deploy changes: uploads in order (assets first) and deletions."""

    uploads: tuple[tuple[str, Path], ...]
    deletions: tuple[str, ...]


def content_type(relative: str) -> str:
    """The Content-Type a file is served with (text types in UTF-8)."""
    name = relative.rpartition("/")[2]
    suffix = Path(name).suffix.lower()
    kind = SPECIAL.get(name) or TYPES.get(suffix) or mimetypes.guess_type(name)[0]
    kind = kind or "application/octet-stream"
    textual = kind.startswith("text/") or kind.endswith(("xml", "json"))
    return f"{kind}; charset=utf-8" if textual else kind


def is_page(relative: str) -> bool:
    """Pages and feeds: uploaded last, cached briefly."""
    return relative.endswith(PAGE_SUFFIXES)


class S3Target:
    """Deploys by syncing the build to a bucket with boto3."""

    def __init__(self, settings: DeploySettings) -> None:
        self.settings = settings
        bucket, _, prefix = settings.location.partition("/")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def deploy(self, site_dir: Path, build_id: str) -> DeployResult:
        """Upload what changed, assets before pages, then delete what is gone."""
        client = self._client()
        plan = self._plan(client, site_dir)
        for relative, path in plan.uploads:
            self._call(
                client.put_object,
                Bucket=self.bucket,
                Key=self.prefix + relative,
                Body=path.read_bytes(),
                ContentType=content_type(relative),
                CacheControl=PAGE_CACHE if is_page(relative) else ASSET_CACHE,
            )
        for start in range(0, len(plan.deletions), 1000):
            chunk = plan.deletions[start : start + 1000]
            self._call(
                client.delete_objects,
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": self.prefix + r} for r in chunk], "Quiet": True},
            )
        log = [
            f"deployed build {build_id} to s3://{self.bucket}/{self.prefix}: "
            f"{len(plan.uploads)} file(s) uploaded, {len(plan.deletions)} deleted"
        ]
        changed = [r for r, _ in plan.uploads] + list(plan.deletions)
        if self.settings.invalidate and changed:
            log += self._invalidate(changed)
        return DeployResult(build_id, build_id, tuple(log), changed=bool(changed))

    def rollback(self) -> DeployResult:
        """A bucket keeps no releases: there is nothing to go back to."""
        raise failure(
            self.settings,
            "an s3 target keeps no releases; to go back, check out "
            "the previous essays and run `publish deploy` again",
        )

    def _plan(self, client, site_dir: Path) -> Plan:
        """Compare the build with the bucket's listing by MD5 (the ETag of a plain upload)."""
        remote: dict[str, str] = {}
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        for page in self._call(lambda: list(pages)):
            for item in page.get("Contents", []):
                remote[item["Key"][len(self.prefix) :]] = item["ETag"].strip('"')
        local = site_files(site_dir)
        changed = [
            (r, p) for r, p in local if remote.get(r) != hashlib.md5(p.read_bytes()).hexdigest()
        ]
        ordered = sorted(changed, key=lambda item: (is_page(item[0]), item[0]))
        built = {r for r, _ in local}
        return Plan(tuple(ordered), tuple(sorted(k for k in remote if k not in built)))

    def _client(self):
        """A boto3 S3 client for the configured endpoint and region."""
        import boto3
        from botocore.config import Config

        options = {
            "endpoint_url": self.settings.endpoint_url or None,
            "region_name": self.settings.region or None,
        }
        return boto3.client("s3", config=Config(retries={"max_attempts": 3}), **options)

    def _call(self, function, *args, **kwargs):
        """Call boto3, turning its errors into a deploy failure (never showing a key)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return function(*args, **kwargs)
        except ClientError as exc:
            detail = exc.response.get("Error", {})
            raise failure(
                self.settings,
                f"{detail.get('Code', 'error')}: {detail.get('Message', '')}".rstrip(": "),
            ) from None
        except BotoCoreError as exc:
            raise failure(self.settings, str(exc)) from None

    def _invalidate(self, changed: list[str]) -> list[str]:
        """Run the CDN invalidation command with `{paths}` replaced by the changed paths."""
        paths = ["/" + self.prefix + r for r in changed]
        argv = []
        for word in shlex.split(self.settings.invalidate):
            argv += paths if word == "{paths}" else [word]
        done = run(self.settings, argv, what="the CDN invalidation command")
        return [
            *(f"invalidate: {line}" for line in done.lines()),
            f"asked the CDN to forget {len(paths)} changed path(s)",
        ]
