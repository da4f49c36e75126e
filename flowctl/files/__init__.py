"""Files as data: `sources`/`generates` patterns, fingerprints, up-to-date checks, inference."""
