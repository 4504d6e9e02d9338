"""clinreason: reasoning-aware clinical AI."""

__version__ = "0.1.0"
