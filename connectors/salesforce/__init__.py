"""Salesforce I/O for telecase, and a simulator of the Salesforce REST API."""
