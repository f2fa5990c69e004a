"""Open model families (Wan, LTX-Video, CogVideoX, ...) run through diffusers' own pipelines.

`registry.recognise(path)` names a model directory's family from its model_index.json;
`model.DiffusersVideoModel` drives that family's pipelines behind the built-in pipeline's call, so
`cinegen.generate` and every door use it unchanged; `switches.py` the memory and speed switches.
One file per family maps cinegen's modes onto its pipelines.
"""
