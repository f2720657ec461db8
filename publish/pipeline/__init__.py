"""The build's pipeline: load, plan, render, finish (pre-flight, search index), write."""
