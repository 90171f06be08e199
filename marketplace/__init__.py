"""Composition root and command line: wires the layers and starts the processes."""
