"""`python -m recorder --room ROOM`: the recorder as its own process (see recorder/cli.py)."""

from recorder.cli import record_app

if __name__ == "__main__":
    record_app(prog_name="python -m recorder")
