"""The console's widgets and screens."""
