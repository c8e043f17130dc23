"""Alarm rules, lifecycle and delivery."""
