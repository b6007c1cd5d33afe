"""TT-LoRA: tensor-train low-rank adaptation of frozen linear layers (Anjum et al., 2024)."""
__version__ = "0.1.0"
