"""Where Markdown, front matter and settings become a `Site`: every file read and checked."""
