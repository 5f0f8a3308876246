"""Fake provider servers that speak each provider's wire format on 127.0.0.1. Reused by bench/."""
