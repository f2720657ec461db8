"""Deploying the built site to where readers read it, and proving it is live before mailing.

One module per target (`dir`, `rsync`, `git`, `s3`, `command`), each behind the `Target`
protocol of `publish.deploy.target`; `publish.deploy.golive` deploys and verifies for
`publish run` and `publish deploy`.
"""
