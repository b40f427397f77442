"""The WebSocket gateway: protocol core, broadcaster, aiohttp app, auth and metrics."""

__all__: list[str] = []
