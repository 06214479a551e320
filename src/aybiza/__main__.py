"""``python -m aybiza``: the ``aybiza`` command (how an eval run starts its own server with the
interpreter it runs on)."""

from aybiza.cli import main

main()
