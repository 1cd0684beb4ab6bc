"""Model files and where they come from: the registry, the Hugging Face Hub, fetching, reading checkpoints
(official pickles and safetensors), loading a ready model, and publishing."""
