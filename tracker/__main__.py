"""`python -m tracker` and the `tracker` command: stop signals are caught before anything else is
imported (tracker.stopping), then the command line runs."""

import sys

from tracker import stopping


def main() -> int:
    stopping.install()
    from tracker.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
