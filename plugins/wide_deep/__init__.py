"""Wide & Deep (Cheng et al., 2016) for tabular data: a hub_core plugin."""
