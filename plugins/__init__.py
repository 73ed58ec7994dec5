"""Built-in hub_core plugins, installed under the import name ``hub_plugins``."""
