"""Parity tests: scratchnet against TensorFlow/Keras, same model, weights and batches.

``parity_tests.driver`` is the one helper every case uses; ``python -m parity_tests.report``
writes the drift report (``docs/parity-report.md``).
"""
