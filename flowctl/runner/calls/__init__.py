"""How steps reach outside flowctl: subprocesses, and Python callables by reference."""
