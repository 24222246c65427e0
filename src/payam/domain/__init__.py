"""Pure types and rules. Imports nothing of ours and no framework."""
