"""What a run leaves behind: the audit journal, the history line, report.json."""
