"""ml layer of diface."""
