"""Shot plans: where each object is, frame by frame (the blocking of a shot), and how the model sees it.

plan.py    the typed, versioned, JSON-serialisable `ShotPlan` and its validation
planner.py prompt -> plan, with the backlot world's own physics (the default for the built-in model)
paths.py   a user-drawn path for an object (`--path "x,y x,y ..."`) at constant speed
raster.py  plan -> layout channels at latent resolution (the renderer's extra input)
"""
