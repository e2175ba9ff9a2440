"""Training (Keras 3): the generic fit loop and one folder per task under ``tasks/``.

Needs the [train] extra. See :mod:`edgeimg.train.tasks` for the task registry.
"""
