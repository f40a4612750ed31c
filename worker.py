"""arq entry point: `arq worker.WorkerSettings` (any number, on any machine sharing the stores)."""

from rustdocs_mcp.logs import setup_logging
from rustdocs_mcp.settings import load_settings
from rustdocs_mcp.tasks import worker_options

settings = load_settings()
setup_logging(settings)

WorkerSettings = type("WorkerSettings", (), worker_options(settings))
