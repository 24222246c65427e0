"""The command line door (Typer + Rich)."""
