"""Serving a trained student over HTTP: the model a server holds, request parsing, micro-batching, the API."""

from clinreason.serve.app import DiagnoseRequest, DiagnoseResponse, ServeSettings, create_app
from clinreason.serve.loading import load_served
from clinreason.serve.model import ModelCard, ServedModel

__all__ = [
    "DiagnoseRequest",
    "DiagnoseResponse",
    "ModelCard",
    "ServeSettings",
    "ServedModel",
    "create_app",
    "load_served",
]
