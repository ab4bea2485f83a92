"""The ``furiosa`` command."""
