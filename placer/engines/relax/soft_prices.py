"""Prices of soft rows in the relaxation: bounded by their price per unit of excess.

A soft row r (`placer.problem.soft`, a priced grid event's facility row) may be exceeded
at p_r USD/h per unit, so its Lagrangian price lives in [0, p_r] (`soft.price_ceiling`
says why the bound stays valid there). Adam optimises an unbounded theta: a hard row's
price is softplus(theta) x scale (as before), a soft row's p_r x sigmoid(theta), which
keeps it inside [0, p_r] with a gradient everywhere (a clip would stop the gradient at
p_r). Problems without soft rows never reach this module (`ceiling_r` is None).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class SoftPrices(NamedTuple):
    """Device arrays of the soft rows (R' rows of `pair_rows`).

    Attributes:
      soft_r: bool[R'], the row is soft.
      ceiling_r: float32[R'], its price per unit of excess (0 on hard rows: finite, so
        the unused branch of a `where` has finite gradients).
    """

    soft_r: jax.Array
    ceiling_r: jax.Array


def soft_prices(ceiling_r: np.ndarray | None) -> SoftPrices | None:
    """The device arrays of a `PairRows.ceiling_r` (float64[R'], +inf on hard rows)."""
    if ceiling_r is None:
        return None
    soft = np.isfinite(ceiling_r)
    return SoftPrices(jnp.asarray(soft), jnp.asarray(np.where(soft, ceiling_r, 0.0), jnp.float32))


def with_soft(y_r: jax.Array, theta_r: jax.Array, soft: SoftPrices | None) -> jax.Array:
    """The prices `y_r` of hard rows, with each soft row's p_r x sigmoid(theta)."""
    if soft is None:
        return y_r
    return jnp.where(soft.soft_r, soft.ceiling_r * jax.nn.sigmoid(theta_r), y_r)


def soft_slope(slope_r: jax.Array, theta_r: jax.Array, soft: SoftPrices | None) -> jax.Array:
    """d price / d theta: `slope_r` on hard rows, p_r sigmoid' (theta) on soft rows."""
    if soft is None:
        return slope_r
    s = jax.nn.sigmoid(theta_r)
    return jnp.where(soft.soft_r, soft.ceiling_r * s * (1.0 - s), slope_r)


def soft_prices_np(prices_r: np.ndarray, theta_r, ceiling_r: np.ndarray | None) -> np.ndarray:
    """float64[R']: NumPy `with_soft` for the prices read back from theta."""
    if ceiling_r is None:
        return prices_r
    soft = np.isfinite(ceiling_r)
    sigmoid = np.asarray(jax.nn.sigmoid(theta_r), float)
    return np.where(soft, np.where(soft, ceiling_r, 0.0) * sigmoid, prices_r)


def clip_soft(y_r: np.ndarray, ceiling_r: np.ndarray | None) -> np.ndarray:
    """float64[R']: prices with each soft row's at most its price per unit of excess."""
    return y_r if ceiling_r is None else np.minimum(y_r, ceiling_r)
