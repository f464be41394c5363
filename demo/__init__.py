"""The main job: train scratchnet (and Keras) side by side and report."""
