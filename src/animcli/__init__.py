"""animcli."""
