"""`python -m rustdocs_mcp ...`: the same as the `rustdocs-mcp` command."""

from .cli import main

main()
