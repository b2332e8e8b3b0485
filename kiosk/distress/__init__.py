"""Distress detection in the cabin: detectors that turn local observations (readings, and later
the camera, the microphone and the panic button) into alert events. Nothing of the patient
leaves this package but those events."""
