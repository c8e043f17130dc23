"""The registry: regions, sites, points, channels and gateways, imported from YAML."""
