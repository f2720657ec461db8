"""The outputs: pure functions from a `Site` to `{path: content}`, one module per format family."""
