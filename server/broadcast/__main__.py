"""`python -m server.broadcast …`: the broadcaster as its own process (see cli.py)."""

from server.broadcast.cli import broadcast_app

broadcast_app()
