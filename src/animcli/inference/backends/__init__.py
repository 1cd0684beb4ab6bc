"""The backends that run a family's networks: the interface (base), torch, onnxruntime."""
