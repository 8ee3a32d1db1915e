"""The web channel: the aiohttp server (server.py), its routes (api.py), the Telegram webhook (webhook.py) and the chat page (static/)."""
