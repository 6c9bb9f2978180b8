"""Operating a store for years: copying it elsewhere, upgrading its schema (and, beside them,
retention). Each operation speaks only the ``Store`` protocol, so plugins take part too."""
