"""Target backends: one package per target family (dialect ops, step functions, lowering, rules, emitter)."""
