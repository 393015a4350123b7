"""Readers and writers of the field's file formats (no torch, no models)."""
