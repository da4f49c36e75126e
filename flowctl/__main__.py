"""`python -m flowctl` is the same as the `flowctl` command."""

from flowctl.entry import main

if __name__ == "__main__":
    main()
