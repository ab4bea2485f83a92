"""The Warboy simulator (``docs/simulator.md``): functional and timed execution of an ENF."""

from furiosa.backend.warboy.simulator.functional import Machine, SimulatorError
from furiosa.backend.warboy.simulator.run import Report, SimResult, random_inputs, simulate
from furiosa.backend.warboy.simulator.timing import Cost, cost

__all__ = ["Cost", "Machine", "Report", "SimResult", "SimulatorError", "cost", "random_inputs",
           "simulate"]
