"""docs/isa.md names every opcode, operand and attribute of the instruction set."""

from __future__ import annotations

from pathlib import Path

from furiosa.backend.warboy.isa import OPCODES

PAGE = Path(__file__).parents[4] / "docs" / "isa.md"


def test_isa_page_covers_every_opcode_operand_and_attribute() -> None:
    text = PAGE.read_text()
    for spec in OPCODES:
        assert f"`{spec.name}`" in text, spec.name
        assert f"{spec.code} `{spec.name}`" in text, f"code of {spec.name}"
        for o in spec.operands:
            assert f"`{o.name}`" in text, (spec.name, o.name)
        for a in spec.attributes:
            assert f"`{a.name}`" in text, (spec.name, a.name)


def test_isa_page_example_parses_and_is_canonical() -> None:
    from furiosa.backend.warboy.isa import parse_program, print_program

    text = PAGE.read_text()
    block = text.split("```text\n", 1)[1].split("```", 1)[0]
    program = parse_program(block, "docs/isa.md")
    assert len(program.instructions) == 2
    canonical = print_program(program)
    for line in block.splitlines():
        if line.startswith("i"):
            assert line in canonical
