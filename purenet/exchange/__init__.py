"""Model exchange: JSON Schemas, ONNX export and import, the tutorials' JSON, the browser reader."""
