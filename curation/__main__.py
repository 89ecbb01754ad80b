"""Entry point for `python -m curation`."""

from curation.cli import app

if __name__ == "__main__":
    app(prog_name="python -m curation")
