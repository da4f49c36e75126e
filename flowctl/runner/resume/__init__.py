"""`resume`: fold a run's journal into a starting point, and continue the run from it."""
