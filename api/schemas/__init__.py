"""Pydantic request and response models of the HTTP API, one module per feature (plans, incidents, ...).

Every JSON route declares its response model, so /openapi.json documents each 2xx body; a model per audience (public
or staff view) decides which fields leave the server."""
