"""dags."""
