"""The processor's agents, one module each: intake, evaluate, claims."""
