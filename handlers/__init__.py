"""Thin Telegram handlers: translate updates into Assistant calls and Answers into replies."""
