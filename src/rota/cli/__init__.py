"""The `rota` command line: one module per command group, thin over the Python client."""
