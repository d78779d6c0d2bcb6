"""MLflow, where users already look: run and comparison folders logged to a tracking store."""
