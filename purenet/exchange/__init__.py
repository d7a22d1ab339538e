"""Model exchange: JSON Schemas, ONNX export and import, the tutorials' JSON, the browser reader.

Everything here reads or writes a `Model` in another form; nothing here trains. ONNX needs the
`onnx` extra (`onnx` builds and reads graphs, `onnxruntime` runs them), imported only when used.
"""

from purenet.exchange.onnx_export import export_onnx, model_to_onnx, run_onnx
from purenet.exchange.onnx_import import import_onnx, model_from_onnx
from purenet.exchange.schemas import attrs_json_schema, model_json_schema
from purenet.exchange.tutorial import (
    model_from_tutorial,
    model_to_tutorial,
    read_tutorial,
    write_tutorial,
)
from purenet.exchange.web import WEB_DIR, make_server

__all__ = [
    "WEB_DIR",
    "attrs_json_schema",
    "export_onnx",
    "import_onnx",
    "make_server",
    "model_from_onnx",
    "model_from_tutorial",
    "model_json_schema",
    "model_to_onnx",
    "model_to_tutorial",
    "read_tutorial",
    "run_onnx",
    "write_tutorial",
]
