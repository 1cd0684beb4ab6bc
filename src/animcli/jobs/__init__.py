"""Running many jobs: the batch manifest, and the worker pools (local processes, Ray actors) they run on."""
