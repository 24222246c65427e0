"""The WebSocket gateway: live updates to connected devices (arrives with the messaging work)."""
