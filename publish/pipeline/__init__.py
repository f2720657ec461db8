"""The build's pipeline: load, plan, decide, render, pre-flight, write (and the rebuild that
finds nothing changed)."""
