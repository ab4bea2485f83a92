"""The Warboy backend: target description, supported-operator table, lowering and code generation."""
