"""The mailing side: the operator's environment, mail set-up checks, where mail goes, the
transports, the built email, the ledger-driven send and the subscription service."""
