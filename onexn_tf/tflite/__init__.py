"""The .tflite side of onexn: model access, the onexn_1xn metadata codec and its verification, TFLite's
block-sparse encoding, annotating a converted model, and the converter itself (the only part that needs
TensorFlow)."""
