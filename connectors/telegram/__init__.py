"""The Telegram connector: webhook and long-polling readers, Bot API client, simulator."""
