"""The site's ActivityPub actor: its key, HTTP Signatures both ways, fetching remote actors
safely, and what the inbox does with each activity it accepts."""
