"""gui layer of diface."""
