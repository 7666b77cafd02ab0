"""The synthetic video pose benchmark (`dkdpose synth`), written in the Penn Action and Sub-JHMDB layouts.

`motion.py` (kinematic actions) -> `figures.py` (articulated people) -> `scene.py` (background, occluders,
camera, lighting) -> `render.py` (one video and its labels) -> `generate.py` (the dataset on disk) ->
`card.py` (the card and contact sheet, measured from the written labels). `params.py` holds the parameters.
"""

from dkdpose.data.synthetic.generate import SynthResult, generate_dataset
from dkdpose.data.synthetic.params import FORMATS, SynthParams

__all__ = ["FORMATS", "SynthParams", "SynthResult", "generate_dataset"]
