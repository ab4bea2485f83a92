"""ENF, the Executable NPU Format (``docs/enf.md``): writer, reader and assembler."""

from furiosa.backend.warboy.enf.format import (
    FORMAT_MAJOR,
    FORMAT_MINOR,
    Enf,
    EnfError,
    Header,
    TensorDesc,
    parse_enf,
    read_enf,
    write_enf,
)

__all__ = ["FORMAT_MAJOR", "FORMAT_MINOR", "Enf", "EnfError", "Header", "TensorDesc",
           "parse_enf", "read_enf", "write_enf"]
