"""Running a model: the Animator (streaming batched inference), backends and their choice, graph export,
decode/compute/encode overlap, batch sizes, and temporal smoothing of driving motion."""
