"""The bounce mailbox: reading it (IMAP or a Maildir), telling what each message reports
(a delivery status notification, a non-standard bounce, an abuse report, an unsubscribe
request) and applying that to the subscriber list through publish.state.standing."""
