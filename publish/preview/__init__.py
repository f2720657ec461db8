"""The local preview: the server and its pages."""
