"""Models: the classifier every recipe trains and every attack queries, backbones, checkpoints."""
