"""The HTTP door: routes parse, call one service, and shape the answer."""
