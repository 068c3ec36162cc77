"""``python -m server`` is the ``modeldeck`` command."""

from server.cli import main

main()
