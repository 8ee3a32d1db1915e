"""The Telegram channel: the python-telegram-bot Application (app.py) and one module per feature."""
