"""Personal data sealed with a per-person data key, so that erasing the key erases the data."""
