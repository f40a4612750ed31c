"""rustdocs-mcp: Rust crate documentation from docs.rs, searchable by MCP clients."""

__version__ = "0.1.0"
