"""core layer of diface."""
