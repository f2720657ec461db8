"""The SQLite state of a site: schema and migrations, subscribers, the send ledger, releases."""
