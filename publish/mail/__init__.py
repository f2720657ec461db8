"""Sending: message building, transport, DKIM, pace, workers, composers, rounds and the send."""
