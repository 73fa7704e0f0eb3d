"""What the event log says: events and their importers, analytics, trending and popularity, A/B experiments, dashboards, shopper histories and the demo traffic simulator."""
