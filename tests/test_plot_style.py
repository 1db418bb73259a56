"""The book's figure style is applied by a call (``plots.use_style``, made by ``plots.subplots``
for every figure of the module), not by importing the module."""
import subprocess
import sys

CHECK = """
import matplotlib
matplotlib.use("Agg")
before = dict(matplotlib.rcParams)
from misgen_lib import plots
assert dict(matplotlib.rcParams) == before, "importing plots changed rcParams"
fig, ax = plots.subplots()
assert matplotlib.rcParams["legend.fontsize"] == plots.FONTS["legend.fontsize"]
assert [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]] == list(plots.PALETTE)
"""


def test_importing_plots_leaves_matplotlib_as_it_was_and_figures_get_the_style():
    run = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
