"""An Amazon Rekognition Custom Labels emulator for the local stack: one demo model, AWS shapes and errors.

The local stack serves it in front of moto's server, reading the images from moto's S3:
`RekognitionMiddleware(moto_app, CustomLabelsEmulator(fetch_object=moto_s3_fetcher()))`.
"""

from labelbatch.emulator.detector import PALETTE, detect_boxes
from labelbatch.emulator.errors import RekognitionError
from labelbatch.emulator.model import CustomLabelsEmulator, ObjectFetcher, demo_model_arns
from labelbatch.emulator.moto_s3 import moto_s3_fetcher
from labelbatch.emulator.settings import EmulatorSettings, SettingsError
from labelbatch.emulator.wsgi import MODEL_CONTROL_PATH, RekognitionMiddleware

__all__ = [
    "MODEL_CONTROL_PATH",
    "PALETTE",
    "CustomLabelsEmulator",
    "EmulatorSettings",
    "ObjectFetcher",
    "RekognitionError",
    "RekognitionMiddleware",
    "SettingsError",
    "demo_model_arns",
    "detect_boxes",
    "moto_s3_fetcher",
]
