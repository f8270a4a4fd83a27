"""The image-analysis function: S3 notifications from the image queue in, one result per image out."""
