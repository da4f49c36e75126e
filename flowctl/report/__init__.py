"""Run reports for people: one self-contained HTML file per run."""
