"""The benchmark: AIOpsLab's problems over the simulator, graded as AIOpsLab grades them, run by ``aoi bench``.

- ``bench.problems``: the problem registry (built-in AIOpsLab problems plus problem files).
- ``bench.graders``: one grader per task type, by name.
- ``bench.sim``: a seeded simulator serving one problem, with keys and MCP endpoints.
- ``bench.episode``: one graded episode and its metrics.
- ``bench.runner`` / ``bench.scores`` / ``bench.report``: runs x problems, avg@k/best@k, JSON/CSV/Markdown/PNG.
- ``bench.split``: the fault-family split (evolving / held-out) shared by the evolver and training.
"""
