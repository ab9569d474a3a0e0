"""Training, evaluation and the tools' command lines.

Submodules are imported where they are used (``paddlexseg.engine.builder`` registers the
optimizers and schedulers), so that ``paddlexseg.engine.cli`` can parse a command line without
importing Paddle (``--help`` returns at once).
"""
