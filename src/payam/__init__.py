"""payam: a self-hostable messenger server whose privacy promises are kept by code."""

__version__ = "0.1.0"
