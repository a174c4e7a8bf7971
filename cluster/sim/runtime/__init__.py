"""The container runtime model: images, commands, behaviours, container runs and their logs."""
