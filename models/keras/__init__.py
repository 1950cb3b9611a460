"""Keras 3 models (TensorFlow backend) behind the shared model interface; TensorFlow is imported
on first use."""
