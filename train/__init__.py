"""Training (Keras 3): data readers, models, the fit loop and evaluation. Needs the [train] extra."""
