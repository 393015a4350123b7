"""Variant store, gene windows and haplotype materialization (no torch models here)."""
