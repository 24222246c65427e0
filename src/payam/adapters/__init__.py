"""Doors to systems outside the process: SMS gateways, file storage, event bus, push."""
