"""The build cache: essay parses and output keys under `build/.cache/`, used only by the build."""
