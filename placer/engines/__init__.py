"""The engines: greedy, the MILP, the JAX kernels, the price relaxation, search and the
hybrids, and the registry that names them. They read the compiled Problem only."""
