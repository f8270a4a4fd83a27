"""labelbatch: batch inference on Rekognition Custom Labels, its local stack, emulator and operator tools."""
