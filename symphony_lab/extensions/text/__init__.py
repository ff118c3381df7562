"""The shipped `text` extension: Regex transforms, splitting and joining of text."""
