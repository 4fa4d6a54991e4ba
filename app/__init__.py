"""hcert issuing service (FastAPI)."""
