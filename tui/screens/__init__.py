"""The UI's screens: incidents, investigation, and the modal dialogs."""
