"""``python -m telecase``: the ``telecase`` command."""

from telecase.cli.main import main

main()
