"""Serving a trained student over HTTP: the model a server holds, request parsing, micro-batching, the API."""

from clinreason.serve.app import DiagnoseRequest, DiagnoseResponse, ServeSettings, create_app
from clinreason.serve.model import ModelCard, ServedModel, load_served

__all__ = [
    "DiagnoseRequest",
    "DiagnoseResponse",
    "ModelCard",
    "ServeSettings",
    "ServedModel",
    "create_app",
    "load_served",
]
