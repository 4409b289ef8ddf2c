"""Ingestion: sources -> the main DB. `hz45 ingest spotify` reads the Spotify Web API."""
