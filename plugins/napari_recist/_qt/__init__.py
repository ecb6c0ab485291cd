"""Qt views of the plugin (the dock widget); the logic lives in ``_session``."""
