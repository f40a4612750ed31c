"""`python server.py [--transport http]`: the MCP server (same as `rustdocs-mcp serve`)."""

import sys

from rustdocs_mcp.cli import app

if __name__ == "__main__":
    app(["serve", *sys.argv[1:]])
