"""engine layer of diface."""
