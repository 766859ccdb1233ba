"""Kernel-driven search: parallel local-search chains and the hybrid solver."""
