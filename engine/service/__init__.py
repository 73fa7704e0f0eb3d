"""The HTTP service: FastAPI routes over the runtime, with the response cache and the event log."""
