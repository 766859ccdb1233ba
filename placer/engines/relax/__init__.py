"""The optax price-based relaxation: Lagrangian prices, rounding, repair."""
