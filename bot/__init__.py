"""digibot: the application — configuration, the Assistant core, the CLI and the channels."""
