"""The operator's verbs: run, status, stats, doctor with DNS records, cron, link check, scaffold."""
