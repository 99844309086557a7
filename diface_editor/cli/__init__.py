"""cli layer of diface."""
