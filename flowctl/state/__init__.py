"""What a run leaves behind: audit journal, history, cache."""
