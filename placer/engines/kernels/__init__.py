"""Pure JAX kernels: scoring candidate placements, single-unit moves, sharding."""
