"""Tongbu server: app factory, settings, persistence, REST API, auth and CLI."""
