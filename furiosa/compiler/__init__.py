"""The compiler entry point: registries of everything a tool understands, and compiling."""
