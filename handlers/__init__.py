"""The channels: Telegram (handlers/telegram/), the web server (handlers/web/) and the command line
(handlers/cli.py). Each translates its input into a call on `bot.core.Core` and an `Answer` into
its output; no retrieval or answering logic lives here."""
