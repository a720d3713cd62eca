"""Rota: a distributed task scheduler for Python."""
