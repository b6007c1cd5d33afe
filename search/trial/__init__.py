"""One trial: the Tune trainable and what it runs (the model of any method, the training recipe, the
frozen-model cache, checkpoints and epoch reports), and the torch half of ``ttsearch export``."""
