"""Telegram and Salesforce I/O: inbound readers, outbound writers, API clients, simulators."""
