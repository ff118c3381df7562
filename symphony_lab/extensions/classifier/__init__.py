"""The shipped `classifier` extension: A small torch MLP text classifier over bag-of-words
features; trained models are artifacts."""
