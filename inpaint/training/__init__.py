"""Training a generator, one room per job: `config` (a model's config from params.yaml, -S overrides, the
schema of the train section), `start` (the checkpoint a fine-tune starts from), `terms` (the loss terms
each model adds), `step` (networks, losses, one optimisation step) and `loop` (batches, validation,
checkpoints, resume: `train`)."""
