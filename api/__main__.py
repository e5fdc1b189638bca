"""`python -m frys ...`: the same as the `frys` command (frys.cli.entry)."""

from frys.cli import entry

if __name__ == "__main__":
    entry()
