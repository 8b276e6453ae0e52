"""`bffkit serve`: the REST API, users and the review page over one workspace (see docs/serve.md)."""
