"""One module per command: each parses nothing and returns an exit code."""
